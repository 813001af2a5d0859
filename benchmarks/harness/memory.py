"""Peak extra memory of one call: the CUDA allocator's peak, or on the CPU the c10 allocator and RSS views."""

from __future__ import annotations

import ctypes
from typing import Callable, Optional

import torch

from benchmarks.harness.devices import sync

__all__ = ["peak_memory"]

_libc = None


def _glibc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018 - probe the symbol
        except (OSError, AttributeError):
            _libc = False
    return _libc


def _proc_status(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _rss_peak(fn: Callable[[], object]) -> Optional[int]:
    """Peak RSS growth during ``fn()`` (Linux: reset VmHWM through /proc/self/clear_refs), or None if unsupported."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _proc_status("VmRSS")
    result = fn()
    peak = _proc_status("VmHWM")
    del result
    if before is None or peak is None:
        return None
    return max(0, peak - before)


def _allocator_peak(fn: Callable[[], object]) -> Optional[int]:
    """Peak bytes held by the c10 CPU allocator during ``fn()`` above the level at entry (torch profiler records
    every allocation and free, including those inside C++ kernels)."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            result = fn()
            del result
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except (RuntimeError, AttributeError):
        return None
    events.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


def peak_memory(fn: Callable[[], object], device: torch.device, result_bytes: int) -> dict:
    """Peak extra memory of one call ``fn()`` beyond what was allocated before it.

    CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation at entry. CPU: two views, the c10 allocator
    peak (torch profiler; exact for torch allocations, including those inside C++ kernels) and the RSS
    high-water-mark growth after ``malloc_trim`` (sees malloc'd scratch outside torch whenever it needs new pages).
    glibc's allocator settings are left alone, so measuring memory never changes the timings that follow.
    ``scratch_bytes`` = peak minus ``result_bytes`` (the tensors the call must hand back: output and/or gradient).
    """
    out: dict = {"result_bytes": int(result_bytes)}
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del result
        out.update(method="cuda.max_memory_allocated", peak_bytes=int(peak))
    else:
        alloc = _allocator_peak(fn)
        rss = _rss_peak(fn)
        peak = max(v for v in (alloc, rss, 0) if v is not None)
        out.update(method="max(c10 allocator peak via torch.profiler, RSS high-water growth)",
                   allocator_peak_bytes=alloc, rss_peak_bytes=rss, peak_bytes=int(peak))
    out["scratch_bytes"] = int(out["peak_bytes"]) - int(result_bytes)
    return out
