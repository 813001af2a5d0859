"""The CPU block cache: large CPU tensors reuse the memory of those freed before them.

glibc serves every large block (above its ``mmap`` threshold, at most 32 MiB) with fresh pages and returns it to the
kernel on free, so each large activation, gradient and optimiser buffer of a training step or a batched forward is
zeroed page by page by the kernel before the op that writes it can run. Inside :func:`block_cache`, the compiled
extension's allocator (``csrc/cpu/block_cache.cpp``, installed with ``c10::SetCPUAllocator``) keeps freed blocks of
at least ``min_block_mib`` by size and hands them out again. Only where memory comes from changes, never a value:
results are bit for bit those of the default allocator (``tests/test_block_cache.py``). Memory: the process keeps
freed blocks (up to ``max_cached_mib``) until the outermost :func:`block_cache` exits or
:func:`release_block_cache` runs, and live plus cached bytes stay within the larger of the peak of its live tensors
since the block began and ``min_budget_mib``: before a fresh block is allocated, the blocks cached longest ago are
freed until they fit. A training step keeps its activations for the backward pass, so its own peak covers what the
next step reuses and a training run holds no more than without the cache; a forward pass frees each activation
soon after making it, so its blocks live in the budget.

It switches the allocator of the whole process, so allocations of other threads inside the block are cached too.
Without the compiled extension it does nothing (and says so once in the log). An allocator that caches large
blocks itself (jemalloc or tcmalloc through ``LD_PRELOAD``) gives the same effect for every program.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
from typing import Iterator, Optional

__all__ = ["block_cache", "block_cache_stats", "release_block_cache", "default_max_cached_mib"]

log = logging.getLogger(__name__)
_warned = False


def _module():
    """gaitedge._C, or None where it is not built (logged once)."""
    global _warned
    try:
        from gaitedge import _extension

        _extension.load()
        return importlib.import_module("gaitedge._C")
    except ImportError as e:
        if not _warned:
            log.info("CPU block cache off: the compiled extension is not available (%s)", str(e).splitlines()[0])
            _warned = True
        return None


def default_max_cached_mib() -> float:
    """A quarter of the machine's physical memory (4096 MiB where it is unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 4 / 2**20
    except (ValueError, OSError, AttributeError):
        return 4096.0


def _mib(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of MiB >= 0, got {value!r}")
    return float(value)


@contextlib.contextmanager
def block_cache(enabled: bool = True, *, min_block_mib: float = 1.0, max_cached_mib: Optional[float] = None,
                min_budget_mib: float = 1024.0, release: bool = True) -> Iterator[bool]:
    """Within the block, CPU tensors of at least ``min_block_mib`` reuse freed blocks of the same size (rounded up
    to 64 KiB), keeping at most ``max_cached_mib`` of them (default: :func:`default_max_cached_mib`), with live plus
    cached bytes within the larger of the live peak and ``min_budget_mib``.

    Blocks nest: an inner block only counts one more user, and the outermost one's exit restores the allocator that
    was installed before and, with ``release``, frees the cached blocks (``release=False`` keeps them for the next
    block, as a training loop's next step would find them; :func:`release_block_cache` frees them). Yields whether
    the cache is on (False when ``enabled`` is False or the compiled extension is missing).
    """
    for name, flag in (("enabled", enabled), ("release", release)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    min_block = _mib(min_block_mib, "min_block_mib")
    max_cached = default_max_cached_mib() if max_cached_mib is None else _mib(max_cached_mib, "max_cached_mib")
    min_budget = _mib(min_budget_mib, "min_budget_mib")
    mod = _module() if enabled else None
    if mod is None:
        yield False
        return
    mod.cpu_block_cache_enable(int(min_block * 2**20), int(max_cached * 2**20), int(min_budget * 2**20))
    try:
        yield True
    finally:
        mod.cpu_block_cache_disable(release)


def block_cache_stats() -> dict:
    """The cache's counters: ``enabled``, ``min_block``, ``max_cached`` and ``min_budget`` (bytes), ``live_bytes``
    (held by tensors it handed out), ``peak_live_bytes`` (since the outermost block began), ``cached_bytes``,
    ``cached_blocks``, ``peak_cached_bytes``, ``hits``, ``misses``, ``released_bytes``, ``evicted_bytes`` (freed to
    stay under the live peak); ``{"enabled": False}`` without the compiled extension."""
    mod = _module()
    return {"enabled": False} if mod is None else dict(mod.cpu_block_cache_stats())


def release_block_cache() -> int:
    """Frees the cached blocks now (the cache stays on); returns their bytes."""
    mod = _module()
    return 0 if mod is None else int(mod.cpu_block_cache_release())
