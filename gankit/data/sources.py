"""Named data sources: what `ctx.real(source, n)` draws from during training.

A recipe declares its sources by name (`Recipe.sources`: `train` by default; a style-transfer recipe
has `content` and `style`, RadialGAN one per domain). Each source wraps one dataset, in memory (moved to
the device once, a batch is an index) or streamed from disk (data/stream.py: decoded per batch by worker
processes, the next batch prefetched), with its own shuffled order. Every rank draws the same global
indices from its sampler (a common seed) and keeps its shard, so N processes see what one process sees.
The samplers' states go into each checkpoint, so a resumed run draws the very batches it would have.
"""

from collections.abc import Mapping

import torch

from .base import Batch, BatchSampler

SEED_OFFSET, SEED_STRIDE = 1, 1000  # source i draws its order from seed + 1 + 1000·i


class Source:
    """One named stream of real batches, sharded over `world` ranks."""

    def __init__(self, name: str, dataset, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world: int = 1, channels_last: bool = False):
        self.name, self.device, self.rank, self.world = name, device, rank, world
        self.dataset = dataset.to(device) if dataset.in_memory else dataset
        self.sampler = BatchSampler(len(dataset), batch_size, seed)
        self.channels_last = channels_last

    def next(self, n: int) -> Batch:
        """This rank's shard of the next n·world samples (n per rank)."""
        idx = self.sampler.next(n * self.world)[self.rank::self.world]
        batch = self.dataset.batch(idx.to(self.device) if self.dataset.in_memory else idx)
        if not self.dataset.in_memory:  # decoded by the workers while this batch trains
            self.dataset.prefetch(self.sampler.peek(n * self.world)[self.rank::self.world])
        batch.x = batch.x.to(self.device, non_blocking=True)
        batch.y = None if batch.y is None else batch.y.to(self.device, non_blocking=True)
        if batch.cond:
            batch.cond = {k: v.to(self.device, non_blocking=True) for k, v in batch.cond.items()}
        if self.channels_last and batch.x.dim() == 4:
            batch.x = batch.x.contiguous(memory_format=torch.channels_last)
        return batch

    def close(self) -> None:
        if hasattr(self.dataset, "close"):
            self.dataset.close()


def make_sources(names: tuple[str, ...], datasets: Mapping, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world: int = 1, channels_last: bool = False) -> dict[str, Source]:
    return {name: Source(name, datasets[name], batch_size, seed + SEED_OFFSET + SEED_STRIDE * i, device,
                         rank, world, channels_last)
            for i, name in enumerate(names)}
