"""Benchmark of ``gaitedge.ops.gait_align`` (OpenGait's GaitAlign: box from the mask, padded RoIAlign to 64x44).

Implementations per point: ``fused`` (gaitedge's kernel), ``reference`` (gaitedge.ops._reference.gait_align, a
per-frame float64 oracle), ``composite`` (vectorised plain PyTorch: separable RoIAlign as two batched matmuls,
benchmarks/baselines.py), ``compiled`` (torch.compile of ``composite``) and ``opengait`` (zero pad + OpenGait's box arithmetic + torchvision
``roi_align``, when torchvision is importable).

    python -m benchmarks.bench_gait_align                 # quick sweep
    python -m benchmarks.bench_gait_align --full          # the op sweep, one axis at a time
"""

from __future__ import annotations

import argparse
from typing import List, Optional

import torch

from benchmarks import baselines
from benchmarks.harness import BenchmarkError
from benchmarks.harness.cases import Case
from benchmarks.harness.cli_args import add_common_args, add_point_args, listed_points, run_script
from benchmarks.harness.inputs import dtype_name, probabilities, silhouettes
from benchmarks.harness.results import Results
from benchmarks.harness.sweep import op_sweep, run_sweep

OP = "gait_align"
OUT_SIZE = (64, 44)


def require_op(name: str):
    import gaitedge.ops as ops

    if not hasattr(ops, name):
        raise BenchmarkError(f"gaitedge.ops.{name} is not available in this gaitedge build "
                             f"({getattr(ops, '__file__', '?')}); rebuild from a checkout that has it")
    return getattr(ops, name)


def ratios(n: int, device: torch.device, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.3 + 0.5 * torch.rand(n, generator=g)).to(device)  # [n] width/height of the original box


def make_case(n: int, c: int, h: int, w: int, dtype: torch.dtype, mask_dtype: torch.dtype, *,
              compile_baseline: bool = True) -> Case:
    fused = require_op(OP)
    from gaitedge.ops import _reference

    def make_inputs(device):
        mask = silhouettes(n, h, w, mask_dtype, device)  # [n, 1, h, w]
        x = probabilities(mask, dtype).expand(n, c, h, w).contiguous()  # [n, c, h, w]
        return {"x": x, "mask": mask, "ratio": ratios(n, device)}

    impls = {
        "fused": lambda x, mask, ratio: fused(x, mask, ratio, OUT_SIZE),
        "reference": lambda x, mask, ratio: _reference.gait_align(x, mask, ratio, OUT_SIZE),
        "composite": lambda x, mask, ratio: baselines.composite_gait_align(x, mask, ratio, OUT_SIZE),
    }
    if compile_baseline:
        comp = baselines.compiled(baselines.composite_gait_align)
        impls["compiled"] = lambda x, mask, ratio: comp(x, mask, ratio, OUT_SIZE)
    if baselines.opengait_available() is None:
        impls["opengait"] = lambda x, mask, ratio: baselines.opengait_gait_align(x, mask, ratio, OUT_SIZE)

    ex, em = torch.empty(0, dtype=dtype).element_size(), torch.empty(0, dtype=mask_dtype).element_size()
    feat, out, px = n * c * h * w * ex, n * c * OUT_SIZE[0] * OUT_SIZE[1] * ex, n * h * w

    def nbytes(pass_: str) -> int:
        fwd = feat + px * em + n * 4 + out  # read x, mask, ratio; write the crop
        bwd = out + n * 16 + feat  # read grad of the crop and the saved boxes; write grad_x
        return {"fwd": fwd, "bwd": bwd, "fwd+bwd": fwd + bwd}[pass_]

    params = {"N": n, "C": c, "H": h, "W": w, "dtype": dtype_name(dtype),
              "mask_dtype": dtype_name(mask_dtype)}
    return Case(OP, params, make_inputs, impls, "x", nbytes, px, output_bytes=out,
                check_frames=64,  # the reference is a per-frame float64 loop: check 64 frames...
                untimed={"reference"} if n > 240 else set())  # ...and time it only up to N=240


def grid(args) -> List[tuple]:
    """(N, C, H, W, dtype, mask_dtype) points."""
    f32, f16, u8, bl = torch.float32, torch.float16, torch.uint8, torch.bool
    if args.full:
        return [(p["N"], 1, p["size"], p["size"], p["dtype"], p["mask"]) for p in op_sweep(with_k=False)]
    listed = listed_points(args)
    if listed is not None:
        return [(q["N"], q["C"], q["size"], q["size"], q["dtypes"], q["masks"]) for q in listed]
    return [(30, 1, 128, 128, f32, u8), (240, 1, 128, 128, f32, u8), (240, 1, 128, 128, f16, bl)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    add_point_args(p, data="feature", channels=True)
    return p


def main(argv: Optional[List[str]] = None, *, results: Optional[Results] = None) -> Results:
    args = build_parser().parse_args(argv)
    return run_sweep(OP, args, grid(args), make_case, results=results, stem=args.stem)


if __name__ == "__main__":
    run_script(main)
