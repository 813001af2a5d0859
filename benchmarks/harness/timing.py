"""Timing: the interleaved timer for comparisons, ``torch.utils.benchmark`` for everything timed on its own."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch.utils import benchmark as torch_benchmark

from benchmarks.harness import BenchmarkError
from benchmarks.harness.devices import sync

__all__ = ["Stats", "time_block", "time_interleaved", "paired_ratio", "timer", "time_once", "timed_runs"]


# ----------------------------------------------------------------------------------------------------------------------
# implementations compared with each other
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Stats:
    """Per-call time statistics in seconds, over ``runs`` timed blocks of ``iters`` calls each."""

    median: float
    q1: float
    q3: float
    min: float
    runs: int
    iters: int
    samples: List[float] = field(repr=False, default_factory=list)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_json(self) -> dict:
        return {"median": self.median, "q1": self.q1, "q3": self.q3, "iqr": self.iqr, "min": self.min,
                "runs": self.runs, "iters_per_run": self.iters}

    @staticmethod
    def of(samples: Sequence[float], iters: int) -> "Stats":
        s = sorted(samples)
        if len(s) == 1:
            return Stats(s[0], s[0], s[0], s[0], 1, iters, list(samples))
        q = statistics.quantiles(s, n=4, method="inclusive")
        return Stats(statistics.median(s), q[0], q[2], s[0], len(s), iters, list(samples))


class _L2Flusher:
    """Overwrites a buffer larger than the GPU's L2 between timed calls, so small cases are not served from cache."""

    def __init__(self, device: torch.device):
        l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 50 << 20) or (50 << 20)
        self.buf = torch.empty(2 * int(l2), dtype=torch.uint8, device=device)  # [2 * L2 bytes]

    def __call__(self) -> None:
        self.buf.zero_()


def time_block(fn: Callable[[], object], iters: int, device: torch.device,
               flush: Optional[Callable[[], None]] = None) -> float:
    """Mean per-call seconds of ``iters`` calls; on CUDA each call sits between two events (flush outside them)."""
    if device.type == "cuda":
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        for i in range(iters):
            if flush is not None:
                flush()
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize(device)
        return sum(s.elapsed_time(e) for s, e in zip(starts, ends)) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def time_interleaved(
    fns: Dict[str, Callable[[], object]],
    device: torch.device,
    *,
    warmup: int = 2,
    block_s: Optional[float] = None,
    min_runs: int = 5,
    max_runs: int = 100,
    budget_s: float = 10.0,
    flush_l2: bool = True,
) -> Dict[str, Stats]:
    """Times several implementations in interleaved rounds (A B C, B C A, C A B, ...).

    Hand-written because ``torch.utils.benchmark`` times one statement at a time, and the ratios between
    implementations are only fair on a shared machine when every round gives each of them the same machine state.

    Each implementation is called ``warmup`` times, then calibrated to a block of ``iters`` calls lasting about
    ``block_s`` (default 0.05 s on CUDA, 0.25 s on CPU: on the shared CPU machines we measure on, the first call
    after another implementation's, or after idling, often runs 2-4x slower than the next ones, whatever the op,
    and a block of one or two calls of a fast implementation would then measure that switch, not the op). Every
    round times one block of each implementation, rotating the order so that none always runs right after a
    particular other. Rounds continue until ``min_runs`` rounds are done and either ``budget_s``
    seconds have passed or ``max_runs`` is reached. On CUDA the time of each call is taken with CUDA events (the
    synchronisation is inside the measurement) and, with ``flush_l2``, the L2 cache is overwritten between calls.

    Returns:
        {name: Stats} with per-call seconds.
    """
    if not fns:
        raise BenchmarkError("time_interleaved: no implementations given")
    flush = _L2Flusher(device) if (device.type == "cuda" and flush_l2) else None
    if block_s is None:
        block_s = 0.05 if device.type == "cuda" else 0.25
    iters: Dict[str, int] = {}
    for name, fn in fns.items():
        for _ in range(max(warmup, 1)):
            fn()
        sync(device)
        t = time_block(fn, 1, device, flush)
        iters[name] = max(1, min(10_000, int(block_s / max(t, 1e-9))))
    names = list(fns)
    samples: Dict[str, List[float]] = {n: [] for n in names}
    t_start = time.perf_counter()
    r = 0
    while r < max_runs:
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            samples[name].append(time_block(fns[name], iters[name], device, flush))
        r += 1
        if r >= min_runs and time.perf_counter() - t_start > budget_s:
            break
    return {n: Stats.of(samples[n], iters[n]) for n in names}


def paired_ratio(num: Stats, den: Stats) -> float:
    """Median over rounds of ``num_i / den_i`` (rounds were interleaved, so each pair saw the same machine load)."""
    k = min(len(num.samples), len(den.samples))
    return statistics.median(num.samples[i] / den.samples[i] for i in range(k))


# ----------------------------------------------------------------------------------------------------------------------
# one thing timed on its own: torch.utils.benchmark
# ----------------------------------------------------------------------------------------------------------------------


def timer(fn: Callable[[], object], *, clock: Optional[Callable[[], float]] = None, label: Optional[str] = None,
          sub_label: Optional[str] = None, description: Optional[str] = None) -> torch_benchmark.Timer:
    """A ``torch.utils.benchmark.Timer`` of ``fn()`` at the current torch thread count.

    The thread count is passed on because Timer's own default is one thread, which would silently override
    ``--threads`` and :func:`benchmarks.harness.devices.num_threads`. ``clock`` replaces Timer's default clock
    (wall time, after synchronising an accelerator when one is present), e.g. ``time.process_time`` for CPU time.
    """
    kwargs = {} if clock is None else {"timer": clock}
    return torch_benchmark.Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads(), label=label,
                                 sub_label=sub_label, description=description, **kwargs)


def time_once(fn: Callable[[], object]) -> float:
    """Seconds of one call of ``fn()`` after Timer's warm-up calls: a cost estimate, not a statistic."""
    return timer(fn).timeit(1).median


def timed_runs(fn: Callable[[], object], runs: int, **labels) -> torch_benchmark.Measurement:
    """``runs`` timings of a slow ``fn()`` as one Measurement of per-call seconds.

    Each run is ``blocked_autorange(min_run_time=0)``: an untimed call sizes the block (one call, for a call long
    enough that the clock's overhead does not matter), then one block is timed; so every timed call follows a
    warm-up. ``labels``: ``label``, ``sub_label``, ``description`` of :func:`timer`.
    """
    if runs < 1:
        raise BenchmarkError(f"runs must be >= 1, got {runs}")
    t = timer(fn, **labels)
    (merged,) = torch_benchmark.Measurement.merge([t.blocked_autorange(min_run_time=0) for _ in range(runs)])
    return merged
