"""``torch.distributed`` plumbing: process-group setup from torchrun's environment, rank helpers, gathers.

Any number of processes works, including one (no process group is created then). Rank and world size come from the
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` variables torchrun sets; the backend is NCCL on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "init_distributed", "cleanup_distributed", "is_distributed", "get_rank", "get_world_size", "is_main_process",
    "barrier", "gather_with_grad", "all_gather_objects", "all_reduce_mean",
]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def init_distributed(device: str = "auto") -> torch.device:
    """Join the process group torchrun describes (if any) and pick this process's device.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        torch.device: the device this rank should use (``cuda:LOCAL_RANK`` under torchrun with CUDA).
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        dev = torch.device(device) if ":" in device else torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not is_distributed():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return dev


def cleanup_distributed() -> None:
    if is_distributed():
        # every rank reaches the same point first: a rank that tears gloo down while its peer still has traffic in
        # flight (rank 0 writing the last checkpoint, say) can abort the peer ("terminate called without an active
        # exception") at exit
        dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def gather_with_grad(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """All-gather each tensor along dim 0; the local slice keeps its autograd graph, the others are constants.

    Every rank must pass tensors of the same shape (the P×K sampler guarantees equal per-rank batches).
    """
    rank, world = get_rank(), get_world_size()
    out = []
    for t in tensors:
        parts = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(parts, t.detach().contiguous())
        parts[rank] = t
        out.append(torch.cat(parts, 0))
    return tuple(out)


def all_gather_objects(obj: Any) -> list:
    """Gather a picklable object from every rank; returns ``[obj]`` without a process group."""
    if not is_distributed():
        return [obj]
    out: list = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(values: dict[str, float]) -> dict[str, float]:
    """Average a dict of floats over ranks (for logging)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    t /= get_world_size()
    return dict(zip(keys, t.tolist()))
