"""Run by tests/test_distributed.py under a real `torchrun`: trains a recipe with gankit's Trainer, then
checks on rank 0 that every rank holds the same parameters and saves them for the single-process comparison.

    torchrun --standalone --nproc_per_node=2 tests/dist_worker.py OUT_DIR RECIPE DATA KEY=VALUE ...
    torchrun --standalone --nproc_per_node=2 tests/dist_worker.py --cases OUT_DIR/cases.json

`accumulate=K` among the settings makes every phase accumulate gradients over K micro-batches. With
`--cases`, one process group trains each case of the JSON file ({name: {recipe, data, sets}}) in turn
and rank 0 saves OUT_DIR/<name>.pt: every rank's final parameters and the real batches it trained on.
DATA `tiny` is the suite's `tiny_images` fixture.
"""

import dataclasses
import json
import sys
from pathlib import Path

import torch

import gankit
from gankit.train import Trainer, dist


def main() -> int:
    if sys.argv[1] == "--cases":
        return run_cases(Path(sys.argv[2]))
    out, recipe, data, *sets = sys.argv[1:]
    ranks, device = dist.init("cpu")
    trainer = make_trainer(recipe, data, sets, ranks, device, Path(out) / "run")
    trainer.fit()
    flat = flat_params(trainer)
    everyone = dist.gather(flat)
    if ranks.is_main:
        torch.save(flat, Path(out) / "params.pt")
        diff = max(float((v - everyone[0]).abs().max()) for v in everyone)
        (Path(out) / "result.json").write_text(json.dumps({"world_size": ranks.world_size, "max_rank_diff": diff,
                                                           "step": trainer.step}))
    dist.shutdown(finished=True)
    return 0


def run_cases(spec: Path) -> int:
    ranks, device = dist.init("cpu")
    for name, case in json.loads(spec.read_text()).items():
        trainer = make_trainer(case["recipe"], case["data"], case["sets"], ranks, device, None)
        batches = record_real_batches(trainer)
        trainer.fit()
        everyone = dist.gather({"params": flat_params(trainer), "real": batches, "step": trainer.step})
        if ranks.is_main:
            torch.save({"world_size": ranks.world_size, **{k: [r[k] for r in everyone] for k in everyone[0]}},
                       spec.parent / f"{name}.pt")
    dist.shutdown(finished=True)
    return 0


def make_trainer(recipe: str, data: str, sets: list[str], ranks, device, run_dir) -> Trainer:
    overrides = dict(s.split("=", 1) for s in sets)
    accumulate = int(overrides.pop("accumulate", 1))
    rec, ds, _ = gankit.build(recipe, dataset(data), preset="smoke", overrides=overrides)
    with_accumulation(rec, accumulate)
    return Trainer(rec, ds, run_dir, device=device, progress=False, dist=ranks)


def dataset(name: str):
    if name == "tiny":
        from conftest import make_tiny_images

        return make_tiny_images()
    return name


def flat_params(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for n in ("G", "D") for p in trainer.nets[n].parameters()])


def record_real_batches(trainer: Trainer) -> list[torch.Tensor]:
    """Every real batch the trainer draws (on this rank: its shard), appended to the returned list."""
    seen, draw = [], trainer.real

    def real(*args, **kwargs):
        batch = draw(*args, **kwargs)
        seen.append(batch.x.detach().clone())
        return batch

    trainer.real = real
    return seen


def with_accumulation(recipe, k: int) -> None:
    phases = recipe.phases
    recipe.phases = lambda: [dataclasses.replace(p, accumulate=k) for p in phases()]


if __name__ == "__main__":
    raise SystemExit(main())
