"""How far a model path is from the machine: its convolution work in FLOPs, and the best rate this machine reaches
on a plain 3x3 convolution, so a measured speed-up can be set against the most any exact fp32 path could give."""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.harness import BenchmarkError
from benchmarks.harness.timing import timer

__all__ = ["count_flops", "conv_peak", "PEAK_SHAPES"]

# (frames, channels in = out, height = width): wide 3x3 convolutions, the shapes oneDNN runs fastest on a CPU
PEAK_SHAPES: Tuple[Tuple[int, int, int], ...] = ((16, 64, 32), (16, 128, 32), (16, 128, 16))


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call of ``fn()`` (``torch.utils.flop_counter``: convolutions and matrix products, 2 per
    multiply-add; elementwise work is not counted)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def conv_peak(device: torch.device, shapes: Sequence[Tuple[int, int, int]] = PEAK_SHAPES,
              min_run_time: float = 0.3) -> Dict[str, object]:
    """The best GFLOP/s of a channels-last fp32 3x3 convolution over ``shapes`` at the current thread count, under
    ``inference_mode``: ``{"gflops": best, "shape": [frames, channels, size], "all": [[frames, channels, size,
    gflops], ...]}``."""
    if not shapes:
        raise BenchmarkError("conv_peak needs at least one shape")
    rows: List[list] = []
    g = torch.Generator(device="cpu").manual_seed(0)
    with torch.inference_mode():
        for n, c, s in shapes:
            x = torch.randn(n, c, s, s, generator=g).to(device).contiguous(memory_format=torch.channels_last)
            w = torch.randn(c, c, 3, 3, generator=g).to(device).contiguous(memory_format=torch.channels_last)
            seconds = timer(lambda: F.conv2d(x, w, padding=1)).blocked_autorange(min_run_time=min_run_time).median
            rows.append([n, c, s, 2.0 * n * c * c * 9 * s * s / seconds / 1e9])
    best = max(rows, key=lambda r: r[3])
    return {"gflops": best[3], "shape": best[:3], "all": rows}
