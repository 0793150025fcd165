"""Objectives (pure loss functions), penalties and post-step constraints."""

from .adversarial import (OBJECTIVES, Objective, d_hinge, d_least_squares, d_minimax, d_wasserstein,
                          g_least_squares, g_nonsaturating, g_saturating, g_wasserstein, mean_probability)
from .constraints import clip_weights, weight_clipper
from .penalties import (drift_penalty, gradient_penalty, input_gradient, interpolate, lazy_adam, r1_penalty,
                        r2_penalty)

__all__ = [
    "OBJECTIVES", "Objective", "d_hinge", "d_least_squares", "d_minimax", "d_wasserstein",
    "g_least_squares", "g_nonsaturating", "g_saturating", "g_wasserstein", "mean_probability",
    "clip_weights", "weight_clipper", "drift_penalty", "gradient_penalty", "input_gradient", "interpolate",
    "lazy_adam", "r1_penalty", "r2_penalty",
]
