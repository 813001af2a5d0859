"""U-Net inference on CPU: the whole batch in one pass, in slices (``UNet.inference_chunk_mib``), and in slices with
the decoder's upsampling as transposed convolutions (``UNet.inference_subpixel``; the default).

Each case is a U-Net (random weights, BatchNorm running statistics drawn away from 0/1, channels-last as the shipped
configs run it) in eval mode under ``torch.inference_mode``, fed one batch of normalised frames:

- ``whole``: ``inference_chunk_mib=0, inference_subpixel=False``, the plain path in one pass;
- ``sliced``: the default budget (``--mib``), the plain path in balanced slices;
- ``sliced+subpixel``: the default configuration.

Before timing, the outputs are compared with ``whole``'s: each row records whether they are bit-identical and
their max |diff|, and the script stops if any differs by more than float re-association (1e-5 of the largest
logit). Timed interleaved in one process; reported as frames/s, and as GFLOP/s of convolution work
(``benchmarks/harness/roofline.py``) beside this machine's best 3x3 convolution rate.

    python -m benchmarks.bench_unet_inference   # the demo's segmenter (128 frames of 64²), the paper's (64 of 128²)
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional

import torch

from benchmarks.harness import BenchmarkError
from benchmarks.harness.cli_args import run_script
from benchmarks.harness.devices import num_threads, pick_devices
from benchmarks.harness.memory import peak_memory
from benchmarks.harness.results import Results
from benchmarks.harness.roofline import count_flops
from benchmarks.harness.timing import paired_ratio, time_interleaved

BENCH = "unet_inference"
TOL = 1e-5
CASES = "demo:8-16-32-64:64:128,paper:16-32-64-128:128:64"


def parse_cases(spec: str) -> list:
    """``name:c1-c2-...:size:frames[,...]`` -> ``[(name, channels, size, frames)]``; ValueError naming ``--cases``."""
    out = []
    for item in spec.split(","):
        parts = item.split(":")
        try:
            name, widths, size, frames = parts
            channels = tuple(int(c) for c in widths.split("-"))
            size, frames = int(size), int(frames)
        except ValueError:
            raise ValueError(f"--cases: {item!r} is not name:c1-c2-...:size:frames") from None
        if len(channels) < 2 or min(channels) < 1 or frames < 1 or size < 2 ** (len(channels) - 1) \
                or size % 2 ** (len(channels) - 1):
            raise ValueError(f"--cases: {item!r} needs two or more widths >= 1, frames >= 1 and a size that is a "
                             f"multiple of {2 ** (len(channels) - 1)}")
        out.append((name, channels, size, frames))
    return out


SIDES = {"whole": (0.0, False), "sliced": (None, False), "sliced+subpixel": (None, True)}


def _unet(channels, mib: float, subpixel: bool):
    from gaitedge.models import UNet, to_channels_last_

    torch.manual_seed(0)
    m = UNet(3, channels, inference_chunk_mib=mib, inference_subpixel=subpixel).eval()
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return to_channels_last_(m)


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", default=CASES, help="name:c1-c2-...:size:frames, comma-separated")
    p.add_argument("--mib", type=float, default=8.0, help="the sliced side's inference_chunk_mib")
    p.add_argument("--budget", type=float, default=20.0, help="seconds of timing per case")
    p.add_argument("--min-runs", type=int, default=5)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-roofline", action="store_true", help="skip the FLOP count and the convolution peak")
    p.add_argument("--out", default=None)
    p.add_argument("--command", default=None)
    args = p.parse_args(argv)
    try:
        cases = parse_cases(args.cases)
    except ValueError as e:
        p.error(str(e))
    device = pick_devices("cpu")[0]
    res = results or Results(BENCH, [device], command=args.command)
    rows = []
    with num_threads(args.threads):
        for name, channels, size, frames in cases:
            nets = {side: _unet(channels, args.mib if mib is None else mib, sub)
                    for side, (mib, sub) in SIDES.items()}
            x = torch.randn(frames, 3, size, size, generator=torch.Generator().manual_seed(1))
            with torch.inference_mode():
                per_slice = nets["sliced"].chunk_frames(x)
                outs = {side: m(x) for side, m in nets.items()}
            ref = outs["whole"]
            scale = float(ref.abs().max()) if ref.numel() else 1.0
            checks = {}
            for side, out in outs.items():
                diff = float((out - ref).abs().max()) if ref.numel() else 0.0
                if not diff <= TOL * max(scale, 1.0):
                    raise BenchmarkError(f"{BENCH} {name}: {side} logits differ from the whole batch's by {diff:.3g} "
                                         f"(tolerance {TOL} of the largest, {scale:.3g})")
                checks[side] = {"bit_identical_to_whole": bool(torch.equal(out, ref)), "max_abs_diff_vs_whole": diff}
                print(f"[check] {name} {side}: bit-identical {checks[side]['bit_identical_to_whole']}, "
                      f"max |diff| {diff:.3g}", flush=True)

            def run(m):
                def call():
                    with torch.inference_mode():
                        return m(x)
                return call

            fns = {side: run(m) for side, m in nets.items()}
            flops = {} if args.no_roofline else {side: count_flops(fn) for side, fn in fns.items()}
            st = time_interleaved(fns, device, warmup=1, block_s=0.0, min_runs=args.min_runs, budget_s=args.budget,
                                  flush_l2=False)
            for impl in SIDES:
                med = st[impl].median
                row = {"op": "unet_inference", "impl": impl, "pass": "fwd", "device": "cpu",
                       "threads": torch.get_num_threads(), "case": name, "channels": "-".join(map(str, channels)),
                       "H": size, "W": size, "frames": frames, "min_slice_frames": 0 if impl == "whole" else per_slice,
                       "slices": 1 if impl == "whole" or not per_slice else frames // per_slice,
                       "time_s": st[impl].to_json(), "rate": frames / med, "rate_unit": "frames/s", "bytes": 0,
                       "gbps": 0.0, "mpix_s": frames * size * size / med / 1e6, "copy_fraction": None,
                       "loadavg_1m": os.getloadavg()[0], "correct": checks[impl]}
                if flops:
                    row["gflop"] = flops[impl] / 1e9
                    row["gflops_per_s"] = flops[impl] / 1e9 / med
                if impl != "whole":
                    row["speedup"] = {"whole": {"ratio_of_medians": st["whole"].median / med,
                                                "paired": paired_ratio(st["whole"], st[impl])}}
                if not args.no_memory:
                    row["memory"] = peak_memory(fns[impl], device, ref.numel() * ref.element_size())
                rows.append(row)
                print(f"[unet] {name} {impl}: {frames / med:.1f} frames/s"
                      + (f", {row['gflops_per_s']:.0f} GFLOP/s" if flops else ""), flush=True)
        if not args.no_roofline:
            print(f"[roofline] 3x3 conv peak {res.conv_peak(device)['gflops']:.0f} GFLOP/s", flush=True)
    res.add(rows)
    if results is None:
        paths = res.write(args.out, BENCH)
        print("wrote", ", ".join(str(x) for x in paths.values()))
    return res


if __name__ == "__main__":
    run_script(main)
