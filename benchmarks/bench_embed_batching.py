"""Embedding throughput of GaitEdge: the eager model called one sequence at a time against ``BatchedEmbedder``.

Both sides embed the same ``--n`` RGB sequences (uint8, ``--frames`` frames of ``--size``², paper-width GaitEdge
in the default frozen-mask mode, random weights with the frozen copy equal to the trainable U-Net):

- ``eager``: ``model.embed(rgbs, ratios)`` per sequence (eval, ``no_grad``, NCHW);
- ``eager+block-cache``: the same inside :func:`gaitedge.block_cache.block_cache`, to show what the cache alone
  gives;
- ``batched``: :class:`gaitedge.models.BatchedEmbedder` (``--batch`` sequences per call, ``inference_mode``,
  convolutions channels-last, the CPU block cache: its defaults; ``--no-block-cache`` turns the cache off).

Before timing, the batched embeddings are checked against the eager ones: max |diff| within 1e-4 of the largest
magnitude (float re-association) on every sequence whose frozen masks (``P0 > 0.5``) come out the same on both
sides. A pixel whose logit is within rounding of 0 can land on either side of the threshold, and one flipped pixel
moves that sequence's GaitAlign box; random weights crowd logits around 0, so such sequences are counted and their
difference reported (at most half may have one). Timed interleaved in one process; reported as sequences/s.

Beside the ratio it reports how far the machine allows it to go (``benchmarks/harness/roofline.py``): each side's
convolution work (FLOPs), its rate, and the best rate this machine reaches on a plain 3x3 convolution. At that rate,
with everything else free, the batched side could reach at most ``eager seconds / (batched FLOPs / peak)``: the
bound of any exact fp32 path here.

    python -m benchmarks.bench_embed_batching                       # 16 sequences x 10 frames of 128x128, 2 threads
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional

import torch

from benchmarks.harness import BenchmarkError
from benchmarks.harness.cli_args import run_script
from benchmarks.harness.devices import num_threads, pick_devices
from benchmarks.harness.inputs import silhouettes
from benchmarks.harness.memory import peak_memory
from benchmarks.harness.results import Results
from benchmarks.harness.roofline import count_flops
from benchmarks.harness.timing import paired_ratio, time_interleaved
from gaitedge.block_cache import block_cache

BENCH = "embed_batching"
TOL = 1e-4


def _sequences(n: int, s: int, size: int) -> list:
    g = torch.Generator().manual_seed(5)
    sil = silhouettes(n * s, size, size, torch.float32, torch.device("cpu")).view(n, s, size, size)
    rgbs = (torch.rand(n, s, 3, size, size, generator=g) * 120 + 100 * sil.unsqueeze(2)).to(torch.uint8)
    ratios = 0.3 + 0.5 * torch.rand(n, s, generator=g)
    return [{"rgbs": rgbs[i], "ratios": ratios[i]} for i in range(n)]


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=16, help="sequences")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=16, help="BatchedEmbedder batch_size")
    p.add_argument("--budget", type=float, default=30.0)
    p.add_argument("--min-runs", type=int, default=3)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-roofline", action="store_true", help="skip the FLOP count and the convolution peak")
    p.add_argument("--no-block-cache", action="store_true", help="BatchedEmbedder without the CPU block cache")
    p.add_argument("--out", default=None)
    p.add_argument("--command", default=None)
    args = p.parse_args(argv)
    from gaitedge.models import BatchedEmbedder, create_model

    device = pick_devices("cpu")[0]
    res = results or Results(BENCH, [device], command=args.command)
    with num_threads(args.threads):
        torch.manual_seed(0)
        model = create_model("GaitEdge", num_classes=8).eval()
        model.Frozen.Backbone.load_state_dict(model.Backbone.state_dict())
        seqs = _sequences(args.n, args.frames, args.size)
        fast = BatchedEmbedder(model, batch_size=args.batch, cpu_block_cache=not args.no_block_cache)

        def eager():
            return torch.stack([model.embed(q["rgbs"], q["ratios"])[0] for q in seqs])  # [n, c, p]

        def eager_cached():
            with block_cache():
                return eager()

        def batched():
            return fast(seqs)

        a, b = eager(), batched()
        scale = float(a.abs().max()) or 1.0
        with torch.no_grad():  # which sequences' frozen masks re-association flipped
            flipped = [i for i, q in enumerate(seqs)
                       if not torch.equal(model.Frozen(model.normalize_rgb(q["rgbs"])) > 0.5,
                                          fast.model.Frozen(model.normalize_rgb(q["rgbs"])) > 0.5)]
        same = [i for i in range(len(seqs)) if i not in flipped]
        err = float((a[same] - b[same]).abs().max()) / scale if same else 0.0
        err_all = float((a - b).abs().max()) / scale
        if not err <= TOL or len(flipped) > len(seqs) // 2:
            raise BenchmarkError(f"{BENCH}: batched embeddings differ from eager ones by {err:.3g} of max on sequences "
                                 f"with equal masks (tol {TOL}); {len(flipped)} of {len(seqs)} with a flipped mask "
                                 "pixel")
        print(f"[check] equal masks: max |batched - eager| / max |eager| = {err:.3g}; {len(flipped)} sequence(s) "
              f"with a flipped mask pixel, all: {err_all:.3g}", flush=True)
        flops = {} if args.no_roofline else {"eager": count_flops(eager), "batched": count_flops(batched)}
        if not torch.equal(eager_cached(), a):
            raise BenchmarkError(f"{BENCH}: the block cache changed the eager embeddings")
        if flops:
            flops["eager+block-cache"] = flops["eager"]
        sides = {"eager": eager, "eager+block-cache": eager_cached, "batched": batched}
        st = time_interleaved(sides, device, warmup=1, block_s=0.0, min_runs=args.min_runs, budget_s=args.budget,
                              flush_l2=False)
        rows = []
        for name, fn in sides.items():
            med = st[name].median
            row = {"op": "embed", "impl": name, "pass": "fwd", "device": "cpu", "threads": torch.get_num_threads(),
                   "P": args.n, "K": 1, "frames": args.frames, "H": args.size, "W": args.size, "amp": False,
                   "time_s": st[name].to_json(), "rate": args.n / med, "rate_unit": "sequences/s", "bytes": 0,
                   "gbps": 0.0, "mpix_s": args.n * args.frames * args.size ** 2 / med / 1e6, "copy_fraction": None,
                   "loadavg_1m": os.getloadavg()[0],
                   "correct": {"max_abs_err_over_max_vs_eager": err if name == "batched" else 0.0,
                               "max_abs_err_over_max_all": err_all if name == "batched" else 0.0,
                               "sequences_with_flipped_mask_pixels": len(flipped) if name == "batched" else 0}}
            if flops:
                row["gflop"] = flops[name] / 1e9
                row["gflops_per_s"] = flops[name] / 1e9 / med
            if name != "eager":
                row["speedup"] = {"eager": {"ratio_of_medians": st["eager"].median / med,
                                            "paired": paired_ratio(st["eager"], st[name])}}
            if not args.no_memory:
                row["memory"] = peak_memory(fn, device, 0)
            rows.append(row)
            print(f"[embed] {name}: {args.n / med:.2f} sequences/s", flush=True)
        peak = None if args.no_roofline else res.conv_peak(device)
    res.add(rows)
    by = {r["impl"]: r for r in rows}
    sp = by["batched"]["speedup"]["eager"]
    measured = (f"{sp['ratio_of_medians']:.2f}× (paired {sp['paired']:.2f}×); against eager with the block cache "
                f"too {st['eager+block-cache'].median / st['batched'].median:.2f}×")
    extra = {}
    if peak is not None:
        # the batched side's convolution work done at the machine's best convolution rate, nothing else timed
        bound = st["eager"].median / (flops["batched"] / 1e9 / peak["gflops"])
        extra["roofline"] = {"conv_peak": peak, "bound": bound}
        eg, bt = by["eager"], by["batched"]
        measured += (f"; convolutions {eg['gflops_per_s']:.0f} / {bt['gflops_per_s']:.0f} GFLOP/s "
                     f"(eager / batched) against a peak of {peak['gflops']:.0f}: at most {bound:.2f}× here")
        print(f"[roofline] eager {eg['gflop']:.0f} GFLOP at {eg['gflops_per_s']:.0f} GFLOP/s, batched "
              f"{bt['gflop']:.0f} GFLOP at {bt['gflops_per_s']:.0f} GFLOP/s; 3x3 conv peak "
              f"{peak['gflops']:.0f} GFLOP/s; bound {bound:.2f}x", flush=True)
    res.target(f"GaitEdge embeddings, BatchedEmbedder (batch {args.batch}) vs eager one sequence at a time (cpu, "
               f"{args.n} seq x {args.frames} frames, {args.size}², fp32, {args.threads} threads)", "≥ 1.8×",
               measured, sp["ratio_of_medians"] >= 1.8, "cpu", **extra)
    if results is None:
        paths = res.write(args.out, BENCH)
        print("wrote", ", ".join(str(x) for x in paths.values()))
    return res


if __name__ == "__main__":
    run_script(main)
