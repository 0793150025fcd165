"""Metrics: 2-D mode coverage, and features for digit images."""

from .histograms import histogram_kl
from .modes import mode_stats

__all__ = ["histogram_kl", "mode_stats"]
