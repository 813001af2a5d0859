"""Every CUDA op once, forward and backward, on small inputs, checked against the CPU kernels: a short program for
``compute-sanitizer`` (memcheck, racecheck, synccheck), which would take hours over the whole test suite.

    compute-sanitizer --tool racecheck --error-exitcode 3 python3 -m benchmarks.cuda_smoke

The cases cover what the per-plane GaitAlign programs branch on: every prob dtype, bool/uint8/float silhouettes, both
modes, k = 3 and 5, a frame whose width is not a multiple of 4, an empty frame, and a gradient holding NaN (the
fused backward's dense fallback). Exits 1 when a CUDA result differs from the CPU one (printed), 2 without a GPU.
"""

from __future__ import annotations

import itertools
import sys

import torch

import gaitedge.ops as ops
from benchmarks.harness.inputs import probabilities, silhouettes

# fp32 arithmetic on both devices; 16-bit outputs are rounded once, so they may differ by an ulp of their dtype.
TOL = {torch.float64: 1e-7, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def close(name: str, got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> bool:
    got, want = got.cpu().double(), want.double()
    if got.shape != want.shape:
        print(f"  MISMATCH {name}: shape {list(got.shape)} vs {list(want.shape)}")
        return False
    same_nan = torch.equal(got.isnan(), want.isnan())
    err = (got - want).nan_to_num().abs().max().item() if got.numel() else 0.0
    scale = max(1.0, want.nan_to_num().abs().max().item() if want.numel() else 1.0)
    ok = same_nan and err <= TOL[dtype] * scale
    if not ok:
        print(f"  MISMATCH {name}: max abs err {err:.3g} (scale {scale:.3g}), NaN pattern equal: {same_nan}")
    return ok


def main() -> int:
    if not torch.cuda.is_available():
        print("cuda_smoke: no CUDA device", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    failures = 0
    cases = itertools.product((torch.float32, torch.float16, torch.bfloat16, torch.float64),
                              (torch.bool, torch.uint8, torch.float32), ("opengait", "exact"), (3, 5))
    for i, (dtype, mask_dtype, mode, k) in enumerate(cases):
        h, w = (48, 37) if i % 2 else (64, 64)  # odd width: the ragged 4-pixel groups and bit words
        sil = silhouettes(5, h, w, mask_dtype, torch.device("cpu"), seed=i)  # [5, 1, h, w]
        sil[0] = 0  # an empty frame: zero box, zero output
        prob = probabilities(sil, dtype, seed=i)
        ratio = torch.rand(5) * 0.8 + 0.2
        g_crop = torch.randn(5, 1, 64, 44).to(dtype)
        if i % 7 == 0:
            g_crop[1, 0, 10, 7] = float("nan")  # the fused backward's dense fallback
        g_full = torch.randn(5, 1, h, w).to(dtype)
        name = f"{dtype} {mask_dtype} {mode} k={k} {h}x{w}"
        want, got = {}, {}
        for d, out in ((torch.device("cpu"), want), (dev, got)):
            s, p, r = sil.to(d), prob.to(d), ratio.to(d)
            out["edge_masks"] = torch.stack(ops.edge_masks(s, k))
            out["gait_synthesis"] = ops.gait_synthesis(p, s, k)
            out["synthesis_backward"] = torch.ops.gaitedge._gait_synthesis_backward(g_full.to(d), s, k, 0.5)
            out["align_boxes"] = ops.align_boxes(s, r, mode=mode)
            x = p.detach().requires_grad_(True)
            crop = ops.gait_align(x, s, r, mode=mode)
            out["gait_align"] = crop
            out["gait_align_backward"] = torch.autograd.grad(crop, x, g_crop.to(d))[0]
            x = p.detach().requires_grad_(True)
            fused = ops.gait_edge_align(x, s, r, k, mode=mode)
            out["gait_edge_align"] = fused
            out["gait_edge_align_backward"] = torch.autograd.grad(fused, x, g_crop.to(d))[0]
        torch.cuda.synchronize()
        for op in want:
            if want[op].dtype == torch.bool:
                if not torch.equal(want[op], got[op].cpu()):
                    print(f"  MISMATCH {name} {op}: masks differ")
                    failures += 1
            elif not close(f"{name} {op}", got[op], want[op], torch.float32 if op == "align_boxes" else dtype):
                failures += 1
    print(f"cuda_smoke: {failures} mismatch(es) on {torch.cuda.get_device_name()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
