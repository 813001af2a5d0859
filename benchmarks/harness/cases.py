"""One benchmark point: the same maths under several implementations, checked, timed interleaved, measured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch

from benchmarks.harness import BenchmarkError
from benchmarks.harness.checks import check_impls
from benchmarks.harness.devices import num_threads
from benchmarks.harness.memory import peak_memory
from benchmarks.harness.timing import paired_ratio, time_interleaved, time_once

__all__ = ["PASSES", "Case", "pass_fns", "limit_call_cost", "run_case"]

PASSES = ("fwd", "bwd", "fwd+bwd")


@dataclass
class Case:
    """One benchmark point: the same maths under several implementations.

    Attributes:
        op: op name ("gait_synthesis", ...).
        params: what identifies the point in tables (N, H, W, k, dtype, mask_dtype, ...).
        make_inputs: builds fresh inputs ``{name: Tensor}`` on a device.
        impls: ``{impl_name: fn(**inputs) -> Tensor}``; must contain ``"reference"`` (the correctness oracle).
        grad_input: name of the input that receives a gradient.
        bytes_fn: ``pass -> compulsory bytes`` (each input read once, each output written once).
        pixels: input pixels per call (for Mpixel/s).
        output_bytes: size of the op's output (the unit of the "peak extra memory" target).
        primary: the implementation whose speed-ups over the others are reported.
    """

    op: str
    params: dict
    make_inputs: Callable[[torch.device], Dict[str, torch.Tensor]]
    impls: Dict[str, Callable[..., torch.Tensor]]
    grad_input: str
    bytes_fn: Callable[[str], int]
    pixels: int
    output_bytes: int
    primary: str = "fused"
    skipped: Dict[str, str] = field(default_factory=dict)
    untimed: set = field(default_factory=set)  # checked for correctness (the reference always is) but not timed
    check_frames: Optional[int] = None  # check only the first frames (frames are independent; slow oracles)


def pass_fns(case: Case, impl: Callable[..., torch.Tensor], inputs: Dict[str, torch.Tensor], pass_: str):
    """(timed callable, result_bytes) for one pass of one implementation. Inputs are fresh per implementation."""
    if pass_ == "fwd":
        out = impl(**inputs)
        return (lambda: impl(**inputs)), out.numel() * out.element_size()
    x = inputs[case.grad_input].detach().clone().requires_grad_(True)
    args = dict(inputs, **{case.grad_input: x})
    out = impl(**args)
    g = torch.rand_like(out)
    grad_bytes = x.numel() * x.element_size()
    if pass_ == "bwd":
        return (lambda: torch.autograd.grad(out, x, g, retain_graph=True)), grad_bytes
    if pass_ == "fwd+bwd":
        def step():
            y = impl(**args)
            return y, torch.autograd.grad(y, x, g)

        return step, grad_bytes + out.numel() * out.element_size()
    raise BenchmarkError(f"pass must be one of {PASSES}, got {pass_!r}")


def limit_call_cost(case: Case, device: torch.device, max_call_s: Optional[float], probe_frames: int = 8) -> None:
    """Keeps a sweep's slow baselines from taking minutes (or all memory) per call.

    Frames are independent, so the cost of a fwd+bwd call grows with N: each baseline (and the reference oracle) is
    run on the first ``probe_frames`` frames and its full-size cost extrapolated linearly. A baseline over
    ``max_call_s`` is dropped with the estimate as its reason (kornia's unfold morphology at k = 9 and N = 1024
    wants ~5 GB and minutes a call). A probe over the limit is run a second time and the faster call counts, so a
    cold first call or one preemption on a busy machine does not drop a cheap baseline. A reference over it is still
    the correctness oracle, on the number of frames it can do in ``max_call_s``, but is not timed. The fused op and
    ``compiled`` are never probed: the first is the subject, and probing the second would compile it for a shape the
    sweep does not time.
    """
    if max_call_s is None:
        return
    n = int(case.params["N"])
    f = min(n, probe_frames)
    full = case.make_inputs(device)
    inputs = {k: v[:f] for k, v in full.items()}  # every input is batched on dim 0
    del full
    for name in [k for k in case.impls if k not in (case.primary, "compiled")]:
        if name in case.untimed and name != "reference":
            continue
        try:
            step, _ = pass_fns(case, case.impls[name], inputs, "fwd+bwd")
            t = time_once(step)
            if t * n / f > max_call_s:
                t = min(t, time_once(step))
        except Exception:  # noqa: BLE001 - check_impls reports (or raises) this implementation's failure
            continue
        est = t * n / f
        if est <= max_call_s:
            continue
        why = (f"about {est:.1f} s per fwd+bwd call at this size (from {f} frames; over --max-call-s "
               f"{max_call_s:g})")
        if name == "reference":
            case.untimed.add("reference")
            case.check_frames = max(f, min(case.check_frames or n, int(n * max_call_s / est)))
            case.skipped["reference"] = f"not timed, checked on {case.check_frames} frames: {why}"
        else:
            del case.impls[name]
            case.skipped[name] = f"not timed: {why}"


def run_case(
    case: Case,
    device: torch.device,
    passes: Sequence[str] = PASSES,
    *,
    threads: Optional[int] = None,
    budget_s: float = 5.0,
    min_runs: int = 5,
    memory: bool = True,
    copy_gbps: Optional[float] = None,
    check: bool = True,
    max_call_s: Optional[float] = None,
) -> List[dict]:
    """Checks, times (interleaved) and measures memory of every implementation of ``case``; one row per impl/pass.

    ``max_call_s``: see :func:`limit_call_cost` (None times every implementation whatever it costs).
    """
    rows: List[dict] = []
    with num_threads(threads if device.type == "cpu" else None):
        limit_call_cost(case, device, max_call_s)
        correctness = check_impls(case, device) if check else {}
        for pass_ in passes:
            fns, result_bytes = {}, {}
            timed = {n: f for n, f in case.impls.items() if n not in case.untimed}
            for name, impl in timed.items():
                inputs = case.make_inputs(device)
                fns[name], result_bytes[name] = pass_fns(case, impl, inputs, pass_)
            load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            stats = time_interleaved(fns, device, min_runs=min_runs, budget_s=budget_s)
            nbytes = case.bytes_fn(pass_)
            for name in timed:
                st = stats[name]
                row = {
                    "op": case.op,
                    "impl": name,
                    "pass": pass_,
                    "device": str(device),
                    "threads": torch.get_num_threads() if device.type == "cpu" else None,
                    **case.params,
                    "time_s": st.to_json(),
                    "bytes": nbytes,
                    "gbps": nbytes / st.median / 1e9,
                    "mpix_s": case.pixels / st.median / 1e6,
                    "copy_fraction": (nbytes / st.median / 1e9) / copy_gbps if copy_gbps else None,
                    "loadavg_1m": load0,
                    "correct": correctness.get(name),
                }
                if name == case.primary:
                    row["skipped"] = dict(case.skipped)
                    row["speedup"] = {
                        other: {"ratio_of_medians": stats[other].median / st.median,
                                "paired": paired_ratio(stats[other], st)}
                        for other in timed if other != name
                    }
                if memory:
                    row["memory"] = peak_memory(fns[name], device, result_bytes[name])
                    row["memory"]["output_bytes"] = case.output_bytes
                rows.append(row)
            del fns
    return rows
