"""Data-parallel training under `torchrun` (PyTorch's own launcher and DistributedDataParallel).

    torchrun --nproc_per_node=2 -m gankit train RECIPE --data DATA
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 -m gankit train ...

Detection follows nanoGPT: torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them gankit runs in
one process. NCCL on GPUs (one per local rank), gloo on CPUs. Each trainable net gets its own
DistributedDataParallel; `batch_size` stays the *global* batch: every rank draws the same global batch
of indices and latent codes (common seeds) and keeps its shard, so N ranks compute what one process
computes on the whole batch (up to floating-point summation order and per-rank BatchNorm statistics;
`sync_bn=true` removes the latter). Other randomness (dropout masks, penalty interpolation weights) uses
per-rank seeds. Rank 0 alone writes logs, samples, metrics and checkpoints; the other ranks' RNG states
are gathered into rank 0's checkpoint, so `--resume` under torchrun is exact too.
"""

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as td
from torch import nn

from ..errors import GankitError


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Join the process group if torchrun started us; returns (info, this rank's device)."""
    from .loop import pick_device

    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return DistInfo(), pick_device(device)
    info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    if not td.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        try:
            td.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
        except Exception as e:  # a bad rendezvous endpoint, a missing peer
            raise GankitError(f"could not join the torchrun process group ({backend}): {str(e).splitlines()[0]}") from None
    return info, dev


def wrap(net: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool) -> nn.Module:
    """DDP around one net. BatchNorm running statistics are broadcast from rank 0 at each forward (so
    every rank holds, and samples with, the same G); nets without buffers skip that broadcast."""
    if sync_bn:
        if device.type != "cuda":
            raise GankitError("sync_bn=true needs CUDA devices (PyTorch's SyncBatchNorm works only on GPU modules)")
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    has_buffers = any(True for _ in net.buffers())
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids, forward_sync_buffers=has_buffers)


def all_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean of each named scalar over ranks (every rank reports the same keys)."""
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    td.all_reduce(t)
    t /= td.get_world_size()
    return dict(zip(keys, t.tolist()))


def any_rank(flag: bool, device: torch.device) -> bool:
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item())


def broadcast(obj, src: int = 0):
    box = [obj]
    td.broadcast_object_list(box, src=src)
    return box[0]


def gather(obj) -> list:
    out = [None] * td.get_world_size()
    td.all_gather_object(out, obj)
    return out


def shutdown(finished: bool = False) -> None:
    """Leave the process group. After a command that `finished` on every rank, wait for the others first:
    rank 0 still writes the last checkpoint and samples when the other ranks are done, and a rank tearing
    gloo down while a peer is still connected sometimes died in C++ ("terminate called without an active
    exception", a joinable thread destroyed; pytorch/pytorch#190489) after its work was done. The barrier
    gives up after a minute (a rank that failed never arrives) and its errors are not the command's."""
    if not td.is_initialized():
        return
    if finished:
        try:
            if td.get_backend() == "gloo":
                td.monitored_barrier(timeout=datetime.timedelta(seconds=60))
            else:
                td.barrier()
        except Exception:  # a peer that failed or left: nothing to wait for
            pass
    td.destroy_process_group()
