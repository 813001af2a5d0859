"""Correctness before timing: every implementation of a case, forward and backward, against its reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

import torch

from benchmarks.harness import BenchmarkError

if TYPE_CHECKING:
    from benchmarks.harness.cases import Case

__all__ = ["tolerance", "check_impls"]


def tolerance(dtype: torch.dtype) -> float:
    """Absolute tolerance on outputs of ``dtype`` (gradients get 4x)."""
    return {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-10}.get(dtype, 2e-5)


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        raise BenchmarkError(f"shape mismatch: {tuple(a.shape)} vs reference {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    return float((a.detach().double() - b.detach().double()).abs().max())


def check_impls(case: "Case", device: torch.device) -> Dict[str, dict]:
    """Runs forward and backward of every implementation on the same inputs and compares with ``reference``."""
    inputs = case.make_inputs(device)
    if case.check_frames is not None:
        inputs = {k: v[: case.check_frames] for k, v in inputs.items()}  # every input is batched on dim 0
    x = inputs[case.grad_input].detach().clone().requires_grad_(True)
    ref = case.impls["reference"](**dict(inputs, **{case.grad_input: x}))
    g = torch.rand_like(ref)
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    tol = tolerance(x.dtype)
    report = {}
    for name, impl in list(case.impls.items()):
        xi = inputs[case.grad_input].detach().clone().requires_grad_(True)
        try:
            out = impl(**dict(inputs, **{case.grad_input: xi}))
            (grad,) = torch.autograd.grad(out, xi, g.to(out.dtype))
        except Exception as e:  # noqa: BLE001
            if name in ("reference", case.primary):
                raise
            # A baseline that cannot run this point (e.g. torch.compile without a C++ toolchain, a dtype a
            # library lacks) is dropped from the table with its reason; it never hides a failure of ours.
            case.skipped[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            del case.impls[name]
            continue
        err_out = _max_err(out.to(ref.dtype), ref)
        err_grad = _max_err(grad.to(ref_grad.dtype), ref_grad)
        # Mixed-precision paths (the OpenGait path promotes to fp32) are compared at the reference dtype's tolerance.
        ok = err_out <= tol and err_grad <= tol * 4
        report[name] = {"max_abs_err_out": err_out, "max_abs_err_grad": err_grad, "tol": tol, "ok": ok}
        if not ok:
            raise BenchmarkError(
                f"{case.op} {case.params}: implementation {name!r} disagrees with the reference "
                f"(max |out err| {err_out:.3g}, max |grad err| {err_grad:.3g}, tol {tol:.3g})")
    return report
