"""Metrics: 2-D mode coverage, and features for digit images."""

from .modes import kl_to_uniform, mode_stats

__all__ = ["kl_to_uniform", "mode_stats"]
