"""Training: the generic trainer, checkpoints, stats and run folders."""

from .build import pick_device
from .loop import Trainer

__all__ = ["Trainer", "pick_device"]
