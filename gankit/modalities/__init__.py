"""Modalities: one module per kind of data, registered by kind name.

A modality knows how samples of its kind are written to files (`gankit sample --out`), previewed
during training (samples/step-N.png), shown in the report, which metrics are its default and which
classifier can sort its samples into the data's classes (health checks). The trainer, CLI, evaluator
and report ask `get_modality(spec.kind)`; they never branch on a kind themselves. A new kind of data
(pianorolls, note sequences, captioned images) is one new module here that calls `register`.
"""

from .base import MODALITIES, Modality, get_modality, register
from . import image, music, points, table  # noqa: F401,E402  (each registers itself)

__all__ = ["MODALITIES", "Modality", "get_modality", "register"]
