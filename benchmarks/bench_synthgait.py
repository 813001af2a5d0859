"""Time SynthGait: ``python -m benchmarks.bench_synthgait [--disk [--out DIR]]`` (pin one core with taskset for
per-core rates)."""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from pathlib import Path
from typing import Sequence, Tuple

from benchmarks.harness.timing import timer
from gaitedge.data.synth.export import generate_synthgait
from gaitedge.data.synth.generator import SynthGait


def in_memory_rates(g: SynthGait, keys: Sequence[tuple]) -> Tuple[int, float, float]:
    """(frames, wall seconds, CPU seconds) of rendering each of ``keys`` once with ``SynthGait.sequence``.

    Each clock gets its own ``Timer.timeit`` over ``len(keys)`` consecutive renders, after Timer's warm-up renders
    (which fill the identity and background caches); the renders cycle through ``keys``, so every timed block
    renders each sequence exactly once.
    """
    frames = {}
    order = itertools.cycle(keys)

    def render_next():
        key = next(order)
        frames[key] = g.sequence(*key)["rgbs"].shape[0]

    seconds = [timer(render_next, clock=clock, label="SynthGait.sequence", sub_label=g.domain).timeit(len(keys))
               for clock in (time.perf_counter, time.process_time)]
    wall, cpu = (m.raw_times[0] for m in seconds)
    return sum(frames.values()), wall, cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequences", type=int, default=60, help="in-memory sequences to time per domain")
    parser.add_argument("--disk", action="store_true", help="also time generate_synthgait (16 ids, 7 views, 24 frames)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="with --disk: write the timed datasets under DIR (created; each is removed after its "
                             "timing) rather than in the system's temporary folder, to time the filesystem DIR is on")
    args = parser.parse_args(argv)
    if args.out is not None and not args.disk:
        parser.error("--out is where --disk writes; pass --disk too")
    if args.out is not None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    for domain in ("indoor", "outdoor"):
        g = SynthGait(domain, subjects=4, seed=0, frames=30)
        n, wall, cpu = in_memory_rates(g, g.keys()[: args.sequences])
        print(f"{domain}: {n} frames in memory: {n / wall:.0f} frames/s wall, {n / cpu:.0f} frames/s CPU")
    if args.disk:
        for domain in ("indoor", "outdoor"):
            out = tempfile.mkdtemp(prefix="synthgait-", dir=args.out)
            try:
                s = generate_synthgait(out, domain, subjects=16, seed=0, views=(0, 36, 72, 90, 108, 144, 180),
                                       frames=24, overwrite=True)  # fmt: skip
                print(f"{domain} on disk: {s['frames']} frames in {s['seconds']:.1f}s ({s['frames_per_second']:.0f}/s)")
            finally:
                shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
