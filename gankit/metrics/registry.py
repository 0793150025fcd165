"""The metric registry: each metric by name, with the kinds of data it applies to.

Modality modules register the metrics of their kind (modalities/image.py: fid, kid, is, pr, dc, classes,
stacked; modalities/points.py: modes); the evaluator (evaluate.py) looks them up here. A metric's
`compute(evaluator, fakes, names)` returns a dict of scores; metrics that share a compute function (the
feature metrics) are computed together, in one pass over the features.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Metric:
    name: str
    kinds: tuple[str, ...]                          # kinds of data it applies to
    help: str
    compute: Callable[["Evaluator", torch.Tensor, list[str]], dict]  # (evaluator, fakes, names of its group)
    needs_features: bool = False                    # a feature network (images)
    requires: Callable[[object], str | None] = lambda spec: None  # why it cannot apply to this data, or None
    samples: int = 0                                # the protocol's sample count (0: min(5,000, data size))


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    METRICS[metric.name] = metric
    return metric
