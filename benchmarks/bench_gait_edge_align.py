"""Benchmark of ``gaitedge.ops.gait_edge_align`` (GaitSynthesis then GaitAlign, fused: Ms is never written).

Implementations per point: ``fused`` (gaitedge's kernel), ``reference`` (gaitedge.ops._reference: max_pool2d
synthesis then the reference GaitAlign), ``composite`` (the fastest plain-PyTorch synthesis, then a
vectorised plain-PyTorch GaitAlign as two batched matmuls), ``compiled`` (torch.compile of ``composite``) and
``opengait`` (kornia morphology + OpenGait's box code + torchvision ``roi_align``, when both libraries import).

    python -m benchmarks.bench_gait_edge_align            # quick sweep
    python -m benchmarks.bench_gait_edge_align --target   # the CPU target point, 2 threads
    python -m benchmarks.bench_gait_edge_align --full     # the op sweep, one axis at a time
"""

from __future__ import annotations

import argparse
from typing import List, Optional

import torch

from benchmarks import baselines
from benchmarks.bench_gait_align import OUT_SIZE, ratios, require_op
from benchmarks.harness.cases import Case
from benchmarks.harness.cli_args import add_common_args, add_point_args, listed_points, run_script
from benchmarks.harness.inputs import dtype_name, probabilities, silhouettes
from benchmarks.harness.results import Results
from benchmarks.harness.sweep import op_sweep, run_sweep, run_targets

OP = "gait_edge_align"
PLAIN = ("reference", "composite", "compiled")


def _reference_edge_align(prob, sil, ratio, kernel_size=3, out_size=OUT_SIZE):
    from gaitedge.ops import _reference

    if hasattr(_reference, "gait_edge_align"):
        return _reference.gait_edge_align(prob, sil, ratio, kernel_size, out_size)
    return _reference.gait_align(_reference.gait_synthesis(prob, sil, kernel_size), sil, ratio, out_size)


def make_case(n: int, h: int, w: int, k: int, dtype: torch.dtype, mask_dtype: torch.dtype, *,
              compile_baseline: bool = True) -> Case:
    fused = require_op(OP)

    def make_inputs(device):
        sil = silhouettes(n, h, w, mask_dtype, device)  # [n, 1, h, w]
        return {"prob": probabilities(sil, dtype), "sil": sil, "ratio": ratios(n, device)}

    impls = {
        "fused": lambda prob, sil, ratio: fused(prob, sil, ratio, k, OUT_SIZE),
        "reference": lambda prob, sil, ratio: _reference_edge_align(prob, sil, ratio, k),
        "composite": lambda prob, sil, ratio: baselines.composite_gait_edge_align(prob, sil, ratio, k),
    }
    if compile_baseline:
        comp = baselines.compiled(baselines.composite_gait_edge_align)
        impls["compiled"] = lambda prob, sil, ratio: comp(prob, sil, ratio, k)
    if baselines.opengait_available() is None:
        impls["opengait"] = lambda prob, sil, ratio: baselines.opengait_gait_edge_align(prob, sil, ratio, k, OUT_SIZE)

    ep, em = torch.empty(0, dtype=dtype).element_size(), torch.empty(0, dtype=mask_dtype).element_size()
    px = n * h * w
    out = n * OUT_SIZE[0] * OUT_SIZE[1] * ep

    def nbytes(pass_: str) -> int:
        fwd = px * (ep + em) + n * 4 + out  # read prob, sil, ratio; write the crop (Ms never leaves the chip)
        bwd = out + px * em + n * 16 + px * ep  # read grad of the crop, sil (edge recomputed), boxes; write grad
        return {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[pass_]

    params = {"N": n, "H": h, "W": w, "k": k, "dtype": dtype_name(dtype),
              "mask_dtype": dtype_name(mask_dtype)}
    return Case(OP, params, make_inputs, impls, "prob", nbytes, px, output_bytes=out,
                check_frames=64,  # the reference is a per-frame float64 loop: check 64 frames...
                untimed={"reference"} if n > 240 else set())  # ...and time it only up to N=240


def target_points(device: torch.device) -> List[tuple]:
    """The CPU target point; on a GPU the N=1920 points (fp16 and fp32 prob)."""
    if device.type == "cpu":
        return [(1024, 128, 128, 3, torch.float32, torch.uint8)]
    return [(1920, 128, 128, 3, d, torch.uint8) for d in (torch.float16, torch.float32)]


def grid(args) -> List[tuple]:
    """(N, H, W, k, dtype, mask_dtype) points of a sweep (--target points come from target_points)."""
    f32, f16, u8, bl = torch.float32, torch.float16, torch.uint8, torch.bool
    if args.full:
        return [(p["N"], p["size"], p["size"], p["k"], p["dtype"], p["mask"]) for p in op_sweep()]
    listed = listed_points(args)
    if listed is not None:
        return [(q["N"], q["size"], q["size"], q["k"], q["dtypes"], q["masks"]) for q in listed]
    return [(30, 128, 128, 3, f32, u8), (240, 128, 128, 3, f32, u8), (240, 128, 128, 3, f16, bl)]


def target_rows(res: Results, rows: List[dict]) -> None:
    """The CPU targets, and the GPU target (vs the OpenGait path), from the rows of the target points."""
    for r in rows:
        if (r["impl"] == "fused" and r["pass"] == "fwd+bwd" and r["device"].startswith("cuda") and r["N"] == 1920
                and r["H"] == 128 and r["k"] == 3):
            where = f"(GPU, N=1920, 128², {r['dtype']}/{r['mask_dtype']})"
            v = r["speedup"].get("opengait")
            if v is None:
                res.target(f"gait_edge_align fwd+bwd vs OpenGait path {where}", "≥ 30×",
                           "not measured: kornia/torchvision not importable in this env", None, r["device"])
            else:
                res.target(f"gait_edge_align fwd+bwd vs OpenGait path {where}", "≥ 30×",
                           f"{v['ratio_of_medians']:.1f}× (paired {v['paired']:.1f}×; "
                           f"{r['time_s']['median'] * 1e3:.2f} ms)", v["ratio_of_medians"] >= 30, r["device"])
            continue
        if not (r["impl"] == "fused" and r["pass"] == "fwd+bwd" and r["device"] == "cpu" and r["threads"] == 2
                and r["N"] == 1024 and r["H"] == 128 and r["k"] == 3):
            continue
        where = f"(CPU, 2 threads, N=1024, 128², {r['dtype']}/{r['mask_dtype']})"
        sp = r["speedup"]
        if "opengait" in sp:
            v = sp["opengait"]
            res.target(f"gait_edge_align fwd+bwd vs OpenGait path {where}", "≥ 30×",
                       f"{v['ratio_of_medians']:.1f}× (paired {v['paired']:.1f}×)", v["ratio_of_medians"] >= 30, "cpu",
                       loadavg_1m=r["loadavg_1m"])
        else:
            res.target(f"gait_edge_align fwd+bwd vs OpenGait path {where}", "≥ 30×",
                       "not measured: kornia/torchvision not importable in this env", None, "cpu")
        plain = {k: v for k, v in sp.items() if k in PLAIN}
        if plain:
            best = min(plain, key=lambda k: plain[k]["ratio_of_medians"])
            v = plain[best]
            res.target(f"gait_edge_align fwd+bwd vs best plain-PyTorch path {where}", "≥ 10×",
                       f"{v['ratio_of_medians']:.1f}× vs {best} (paired {v['paired']:.1f}×)",
                       v["ratio_of_medians"] >= 10, "cpu", loadavg_1m=r["loadavg_1m"])
        else:
            res.target(f"gait_edge_align fwd+bwd vs best plain-PyTorch path {where}", "≥ 10×",
                       "not measured: no plain-PyTorch baseline was timed (--impls)", None, "cpu")
        if r.get("memory"):
            m = r["memory"]
            res.target(f"gait_edge_align fwd+bwd peak extra memory beyond its results {where}",
                       "≤ 1 output-sized tensor",
                       f"{m['scratch_bytes'] / m['output_bytes']:.2f} outputs of scratch "
                       f"(peak {m['peak_bytes'] / 2**20:.1f} MiB; results {m['result_bytes'] / 2**20:.1f} MiB)",
                       m["scratch_bytes"] <= m["output_bytes"], "cpu")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    p.add_argument("--target", action="store_true",
                   help="the target points: CPU, 2 threads, N=1024, 128x128, fp32 prob, uint8 sil, k=3; on CUDA "
                        "N=1920, fp16 and fp32 prob (--device picks; auto = CPU plus CUDA when present)")
    add_point_args(p, data="prob", k=True)
    return p


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    args = build_parser().parse_args(argv)
    if args.target:
        return run_targets(OP, args, target_points, make_case, target_rows, results=results)
    return run_sweep(OP, args, grid(args), make_case, target_rows, budget_s=3.0, results=results,
                     stem=args.stem or OP)


if __name__ == "__main__":
    run_script(main)
