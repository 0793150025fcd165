"""Training: the generic trainer, checkpoints, stats and run folders."""

from .loop import Trainer, pick_device

__all__ = ["Trainer", "pick_device"]
