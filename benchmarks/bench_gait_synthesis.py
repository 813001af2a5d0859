"""Benchmark of ``gaitedge.ops.gait_synthesis`` (edge/interior masks + ``Ms = edge*prob + interior*sil``).

Implementations per point: ``fused`` (gaitedge's compiled kernel), ``reference`` (gaitedge.ops._reference: the
max_pool2d dilation/erosion + XOR + multiply-add composite), ``composite`` (the fastest plain-PyTorch formulation,
benchmarks/baselines.py), ``compiled`` (torch.compile of that composite) and ``opengait`` (kornia morphology, when
kornia is importable).

    python -m benchmarks.bench_gait_synthesis                 # quick sweep
    python -m benchmarks.bench_gait_synthesis --target        # the CPU target point, 2 threads
    python -m benchmarks.bench_gait_synthesis --full          # N {64,1024,1920} x k {3,9} x dtypes
    python -m benchmarks.bench_gait_synthesis --full --suite  # the op sweep (N 1..1920, 64²..256², k 3..9, dtypes)
"""

from __future__ import annotations

import argparse
import itertools
from typing import List, Optional

import torch

from benchmarks import baselines
from benchmarks.harness.cases import Case
from benchmarks.harness.cli_args import add_common_args, add_point_args, listed_points, run_script
from benchmarks.harness.inputs import dtype_name, probabilities, silhouettes
from benchmarks.harness.results import Results
from benchmarks.harness.sweep import op_sweep, run_sweep, run_targets

OP = "gait_synthesis"


def make_case(n: int, h: int, w: int, k: int, dtype: torch.dtype, mask_dtype: torch.dtype, *,
              compile_baseline: bool = True) -> Case:
    import gaitedge.ops as ops
    from gaitedge.ops import _reference

    def make_inputs(device):
        sil = silhouettes(n, h, w, mask_dtype, device)  # [n, 1, h, w]
        return {"prob": probabilities(sil, dtype), "sil": sil}

    impls = {
        "fused": lambda prob, sil: ops.gait_synthesis(prob, sil, k),
        "reference": lambda prob, sil: _reference.gait_synthesis(prob, sil, k),
        "composite": lambda prob, sil: baselines.composite_gait_synthesis(prob, sil, k),
    }
    if compile_baseline:
        comp = baselines.compiled(baselines.composite_gait_synthesis)
        impls["compiled"] = lambda prob, sil: comp(prob, sil, k)
    if baselines.opengait_available() is None:
        impls["opengait"] = lambda prob, sil: baselines.opengait_gait_synthesis(prob, sil, k)

    px = n * h * w
    ep, em = torch.empty(0, dtype=dtype).element_size(), torch.empty(0, dtype=mask_dtype).element_size()

    def nbytes(pass_: str) -> int:
        fwd = px * (ep + em + ep)  # read prob, read sil, write Ms
        bwd = px * (ep + em + ep)  # read grad, read sil (edge recomputed), write grad_prob
        return {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[pass_]

    params = {"N": n, "H": h, "W": w, "k": k, "dtype": dtype_name(dtype),
              "mask_dtype": dtype_name(mask_dtype)}
    return Case(OP, params, make_inputs, impls, "prob", nbytes, px, output_bytes=px * ep)


def target_points(device: torch.device) -> List[tuple]:
    """The CPU target point; on a GPU, the bandwidth points (N=1920, fp16 and fp32 prob)."""
    if device.type == "cpu":
        return [(1024, 128, 128, 3, torch.float32, torch.uint8)]
    return [(1920, 128, 128, 3, d, torch.uint8) for d in (torch.float16, torch.float32)]


def grid(args) -> List[tuple]:
    """(N, H, W, k, dtype, mask_dtype) points of a sweep (--target points come from target_points)."""
    f32, f16, b16, u8, bl = torch.float32, torch.float16, torch.bfloat16, torch.uint8, torch.bool
    if args.full and args.suite:  # every listed N, size, k and dtype pair, one axis at a time
        return [(p["N"], p["size"], p["size"], p["k"], p["dtype"], p["mask"]) for p in op_sweep()]
    if args.full:  # the N x k x dtype grid at 128²
        return [(n, 128, 128, k, d, m) for n, k, d, m in itertools.product(
            [64, 1024, 1920], [3, 9], [f32, f16, b16], [bl, u8, f32])]
    listed = listed_points(args)
    if listed is not None:
        return [(q["N"], q["size"], q["size"], q["k"], q["dtypes"], q["masks"]) for q in listed]
    # quick default: a couple of minutes on 2 CPU cores
    return [(64, 128, 128, 3, f32, u8), (240, 128, 128, 3, f32, u8), (240, 128, 128, 9, f16, bl)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    p.add_argument("--target", action="store_true",
                   help="the target points: CPU, 2 threads, N=1024, 128x128, fp32 prob, uint8 sil, k=3; on CUDA "
                        "N=1920, fp16 and fp32 prob (--device picks; auto = CPU plus CUDA when present)")
    p.add_argument("--suite", action="store_true", help="with --full: the one-axis-at-a-time op sweep instead of the N x k x dtype grid")
    add_point_args(p, data="prob", k=True)
    return p


def target_rows(res: Results, rows: List[dict]) -> None:
    """The CPU target and the GPU bandwidth target from the rows of the target points."""
    for r in rows:
        if (r["impl"] == "fused" and r["pass"] == "fwd" and r["device"].startswith("cuda") and r["N"] == 1920
                and r["H"] == 128 and r["k"] == 3 and r.get("copy_fraction") is not None):
            f = r["copy_fraction"]
            res.target(f"gait_synthesis forward, fraction of measured copy bandwidth (GPU, N=1920, 128², "
                       f"{r['dtype']}/{r['mask_dtype']})", "≥ 80 %",
                       f"{100 * f:.0f} % ({r['time_s']['median'] * 1e6:.0f} µs, {r['gbps']:.0f} GB/s)", f >= 0.8,
                       r["device"])
            continue
        if not (r["impl"] == "fused" and r["pass"] == "fwd+bwd" and r["device"] == "cpu" and r["threads"] == 2
                and r["N"] == 1024 and r["H"] == 128 and r["k"] == 3 and r["dtype"] == "float32"
                and r["mask_dtype"] == "uint8"):
            continue
        name = "gait_synthesis fwd+bwd vs plain-PyTorch composite (CPU, 2 threads, N=1024, 128², fp32/uint8)"
        sp = r["speedup"].get("reference")
        if sp is None:
            res.target(name, "≥ 10×", "not measured: the reference was not timed (--impls)", None, "cpu")
        else:
            t = r["time_s"]["median"]
            res.target(name, "≥ 10×", f"{sp['ratio_of_medians']:.1f}× (paired {sp['paired']:.1f}×; "
                       f"{t * 1e3:.0f} ms vs {t * sp['ratio_of_medians'] * 1e3:.0f} ms)", sp["ratio_of_medians"] >= 10,
                       "cpu", loadavg_1m=r["loadavg_1m"])
        if r.get("memory"):
            m = r["memory"]
            res.target("gait_synthesis fwd+bwd peak extra memory beyond its results (same point)",
                       "≤ 1 output-sized tensor",
                       f"{m['scratch_bytes'] / m['output_bytes']:.2f} outputs of scratch "
                       f"(peak {m['peak_bytes'] / 2**20:.0f} MiB incl. Ms + grad = "
                       f"{m['result_bytes'] / 2**20:.0f} MiB)",
                       m["scratch_bytes"] <= m["output_bytes"], "cpu")


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    args = build_parser().parse_args(argv)
    if args.target:
        return run_targets(OP, args, target_points, make_case, target_rows, results=results)
    return run_sweep(OP, args, grid(args), make_case, target_rows, budget_s=3.0, results=results,
                     stem=args.stem or OP)


if __name__ == "__main__":
    run_script(main)
