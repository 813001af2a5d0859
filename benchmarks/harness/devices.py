"""Devices to measure and the CPU thread count to measure them at."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch

from benchmarks.harness import BenchmarkError

__all__ = ["pick_devices", "sync", "num_threads"]


def pick_devices(spec: str = "auto") -> List[torch.device]:
    """Devices to benchmark: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"`` (CPU plus CUDA when present) or a
    comma-separated list. Asking for CUDA without a usable GPU raises :class:`BenchmarkError` naming the argument."""
    out: List[torch.device] = []
    for part in [p.strip() for p in str(spec).split(",") if p.strip()]:
        if part == "auto":
            out.append(torch.device("cpu"))
            if torch.cuda.is_available():
                out.append(torch.device("cuda", torch.cuda.current_device()))
            continue
        try:
            dev = torch.device(part)
        except RuntimeError:
            raise BenchmarkError(f"--device: unknown device {part!r} (use cpu, cuda, cuda:N or auto)") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise BenchmarkError(f"--device {part!r}: torch.cuda.is_available() is False on this machine "
                                     f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})")
            index = dev.index if dev.index is not None else torch.cuda.current_device()
            if index >= torch.cuda.device_count():
                raise BenchmarkError(f"--device {part!r}: only {torch.cuda.device_count()} CUDA device(s) present")
            dev = torch.device("cuda", index)
        elif dev.type != "cpu":
            raise BenchmarkError(f"--device: unsupported device type {dev.type!r} (cpu or cuda)")
        if dev not in out:
            out.append(dev)
    if not out:
        raise BenchmarkError("--device: no device given")
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def num_threads(n: Optional[int]) -> Iterator[None]:
    """Runs the block with ``torch.set_num_threads(n)`` (``None`` keeps the current setting)."""
    old = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise BenchmarkError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
