"""Run by tests/test_distributed.py under a real `torchrun`: trains a recipe with gankit's Trainer, then
checks on rank 0 that every rank holds the same parameters and saves them for the single-process comparison.

    torchrun --standalone --nproc_per_node=2 tests/dist_worker.py OUT_DIR RECIPE DATA KEY=VALUE ...

`accumulate=K` among the settings makes every phase accumulate gradients over K micro-batches;
`record_shards=1` saves each rank's first real batch (first_batch_rank<R>.pt), to check the sharding.
"""

import dataclasses
import json
import sys
from pathlib import Path

import torch

import gankit
from gankit.train import Trainer, dist


def main() -> int:
    out, recipe, data, *sets = sys.argv[1:]
    overrides = dict(s.split("=", 1) for s in sets)
    accumulate = int(overrides.pop("accumulate", 1))
    record = overrides.pop("record_shards", None)
    ranks, device = dist.init("cpu")
    rec, ds, _ = gankit.build(recipe, data, preset="smoke", overrides=overrides)
    with_accumulation(rec, accumulate)
    trainer = Trainer(rec, ds, Path(out) / "run", device=device, progress=False, dist=ranks)
    first = record_first_batch(trainer.sources[rec.sources[0]]) if record else None
    trainer.fit()
    if first:
        torch.save(first[0], Path(out) / f"first_batch_rank{ranks.rank}.pt")
    flat = torch.cat([p.detach().flatten() for n in ("G", "D") for p in trainer.nets[n].parameters()])
    everyone = dist.gather(flat)
    if ranks.is_main:
        torch.save(flat, Path(out) / "params.pt")
        diff = max(float((v - everyone[0]).abs().max()) for v in everyone)
        (Path(out) / "result.json").write_text(json.dumps({"world_size": ranks.world_size, "max_rank_diff": diff,
                                                           "step": trainer.step}))
    dist.shutdown()
    return 0


def record_first_batch(source) -> list:
    first, original = [], source.next

    def spy(n):
        batch = original(n)
        if not first:
            first.append(batch.x.detach().clone())
        return batch

    source.next = spy
    return first


def with_accumulation(recipe, k: int) -> None:
    phases = recipe.phases
    recipe.phases = lambda: [dataclasses.replace(p, accumulate=k) for p in phases()]


if __name__ == "__main__":
    raise SystemExit(main())
