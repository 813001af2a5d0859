"""CPU forward / forward+backward timings of the registered models at the paper's shapes.

    python -m benchmarks.bench_models                      # n = 8 sequences x 30 frames, every model
    python -m benchmarks.bench_models --models GaitGL UNet --repeats 5 --json timings.json

Shapes follow the batch contract: recognisers get ``aligned_sils`` ``[n, s, 64, 44]``; the segmenter, GaitEdge and
GaitGL-E2E get ``rgbs`` ``[n, s, 3, 128, 128]`` (+ ``ratios``, ``sils``). ``UNet`` is timed on the ``n*s`` frames.
The backward pass uses a stand-in loss (mean of every training tensor), so it exercises every trainable path
without depending on the loss package. Reported: median and min over ``--repeats`` timed calls, each after an
untimed warm-up call (``torch.utils.benchmark``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from typing import Dict

import torch

from benchmarks.harness.timing import timed_runs
from gaitedge.models import create_model

DEFAULT_MODELS = ["UNet", "GaitGL", "GaitSet", "GaitPart", "GaitEdge", "GaitGL-E2E"]


def make_batch(name: str, n: int, s: int) -> Dict[str, torch.Tensor]:
    labels = torch.arange(n) % 74
    if name in ("GaitGL", "GaitSet", "GaitPart", "GaitGL-OUMVLP", "GaitGL-GREW"):
        return {"aligned_sils": (torch.rand(n, s, 64, 44) > 0.5).float(), "labels": labels}
    sils = torch.zeros(n, s, 128, 128)
    sils[:, :, 16:112, 48:80] = 1.0  # a person-sized box
    return {
        "rgbs": torch.randn(n, s, 3, 128, 128),
        "ratios": torch.full((n, s), 0.4),
        "sils": sils,
        "labels": labels,
    }


def stand_in_loss(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):  # bare UNet
        return out.float().mean()
    total = 0.0
    for kwargs in out["training_feat"].values():
        for v in kwargs.values():
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.requires_grad:
                total = total + v.float().square().mean()
    return total


def time_model(name: str, n: int, s: int, repeats: int) -> Dict[str, float]:
    torch.manual_seed(0)
    model = create_model(name).train()
    batch = make_batch(name, n, s)
    inp = batch["rgbs"].reshape(n * s, 3, 128, 128) if name == "UNet" else batch

    def forward():
        with torch.no_grad():
            return model(inp)

    def step():
        model.zero_grad(set_to_none=True)
        stand_in_loss(model(inp)).backward()

    fwd = timed_runs(forward, repeats, label=name, description="forward (no_grad)")
    both = timed_runs(step, repeats, label=name, description="forward+backward")
    params = sum(p.numel() for p in model.parameters())
    return {
        "model": name,
        "params": params,
        "forward_s_median": fwd.median,
        "forward_s_min": min(fwd.times),
        "fwd_bwd_s_median": both.median,
        "fwd_bwd_s_min": min(both.times),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("-n", type=int, default=8, help="sequences per batch")
    ap.add_argument("-s", type=int, default=30, help="frames per sequence")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "n": args.n,
        "s": args.s,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    print(f"# torch {meta['torch']}, {meta['threads']} threads on {meta['cpu_count']} CPUs, n={args.n} x s={args.s}, "
          f"median of {args.repeats}; load average before: {meta['loadavg_before']}")
    print("| model | params | forward (no_grad) s | forward+backward s |")
    print("|---|---:|---:|---:|")
    rows = []
    for name in args.models:
        try:
            r = time_model(name, args.n, args.s, args.repeats)
        except (ImportError, RuntimeError, OSError) as e:  # e.g. GaitEdge without the compiled ops
            print(f"| {name} | - | skipped: {type(e).__name__}: {str(e).splitlines()[0][:80]} | |")
            continue
        rows.append(r)
        print(f"| {name} | {r['params']:,} | {r['forward_s_median']:.2f} | {r['fwd_bwd_s_median']:.2f} |", flush=True)
    meta["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"# load average after: {meta['loadavg_after']} (other processes share these CPUs when it exceeds the count)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"metadata": meta, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
