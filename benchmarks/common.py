"""Shared benchmark harness: timing, memory, correctness, metadata and result files.

The method contract (what is timed, how ratios are taken, what "effective GB/s" and "peak extra memory" mean, and the
JSON schema) is written down in ``benchmarks/README.md``; this module implements it. Every op benchmark is a list of
:class:`Case` objects, each holding several implementations of the same maths ("fused", "reference", "composite",
"compiled", "opengait"); :func:`run_case` checks every implementation against the reference, then times them
*interleaved* in one process so that ratios survive a noisy, shared machine.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch

__all__ = [
    "SCHEMA",
    "BenchmarkError",
    "Case",
    "Stats",
    "pick_devices",
    "num_threads",
    "time_interleaved",
    "peak_memory",
    "copy_bandwidth",
    "metadata",
    "run_case",
    "Results",
    "render_markdown",
    "render_plot",
    "DTYPES",
    "dtype_name",
]

SCHEMA = "gaitedge-bench/1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PASSES = ("fwd", "bwd", "fwd+bwd")
DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


class BenchmarkError(RuntimeError):
    """A benchmark could not run or an implementation gave a wrong answer."""


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# ----------------------------------------------------------------------------------------------------------------------
# devices, threads, synchronisation
# ----------------------------------------------------------------------------------------------------------------------


def pick_devices(spec: str = "auto") -> List[torch.device]:
    """Devices to benchmark: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"`` (CPU plus CUDA when present) or a
    comma-separated list. Asking for CUDA without a usable GPU raises :class:`BenchmarkError` naming the argument."""
    out: List[torch.device] = []
    for part in [p.strip() for p in str(spec).split(",") if p.strip()]:
        if part == "auto":
            out.append(torch.device("cpu"))
            if torch.cuda.is_available():
                out.append(torch.device("cuda", torch.cuda.current_device()))
            continue
        try:
            dev = torch.device(part)
        except RuntimeError:
            raise BenchmarkError(f"--device: unknown device {part!r} (use cpu, cuda, cuda:N or auto)") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise BenchmarkError(f"--device {part!r}: torch.cuda.is_available() is False on this machine "
                                     f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})")
            index = dev.index if dev.index is not None else torch.cuda.current_device()
            if index >= torch.cuda.device_count():
                raise BenchmarkError(f"--device {part!r}: only {torch.cuda.device_count()} CUDA device(s) present")
            dev = torch.device("cuda", index)
        elif dev.type != "cpu":
            raise BenchmarkError(f"--device: unsupported device type {dev.type!r} (cpu or cuda)")
        if dev not in out:
            out.append(dev)
    if not out:
        raise BenchmarkError("--device: no device given")
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def num_threads(n: Optional[int]) -> Iterator[None]:
    """Runs the block with ``torch.set_num_threads(n)`` (``None`` keeps the current setting)."""
    old = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise BenchmarkError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ----------------------------------------------------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Stats:
    """Per-call time statistics in seconds, over ``runs`` timed blocks of ``iters`` calls each."""

    median: float
    q1: float
    q3: float
    min: float
    runs: int
    iters: int
    samples: List[float] = field(repr=False, default_factory=list)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_json(self) -> dict:
        return {"median": self.median, "q1": self.q1, "q3": self.q3, "iqr": self.iqr, "min": self.min,
                "runs": self.runs, "iters_per_run": self.iters}

    @staticmethod
    def of(samples: Sequence[float], iters: int) -> "Stats":
        s = sorted(samples)
        if len(s) == 1:
            return Stats(s[0], s[0], s[0], s[0], 1, iters, list(samples))
        q = statistics.quantiles(s, n=4, method="inclusive")
        return Stats(statistics.median(s), q[0], q[2], s[0], len(s), iters, list(samples))


class _L2Flusher:
    """Overwrites a buffer larger than the GPU's L2 between timed calls, so small cases are not served from cache."""

    def __init__(self, device: torch.device):
        l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 50 << 20) or (50 << 20)
        self.buf = torch.empty(2 * int(l2), dtype=torch.uint8, device=device)  # [2 * L2 bytes]

    def __call__(self) -> None:
        self.buf.zero_()


def _time_block(fn: Callable[[], object], iters: int, device: torch.device, flush: Optional[_L2Flusher]) -> float:
    """Mean per-call seconds of ``iters`` calls; on CUDA each call sits between two events (flush outside them)."""
    if device.type == "cuda":
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        for i in range(iters):
            if flush is not None:
                flush()
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize(device)
        return sum(s.elapsed_time(e) for s, e in zip(starts, ends)) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def time_interleaved(
    fns: Dict[str, Callable[[], object]],
    device: torch.device,
    *,
    warmup: int = 2,
    block_s: Optional[float] = None,
    min_runs: int = 5,
    max_runs: int = 100,
    budget_s: float = 10.0,
    flush_l2: bool = True,
) -> Dict[str, Stats]:
    """Times several implementations in interleaved rounds (A B C, B C A, C A B, ...).

    Each implementation is called ``warmup`` times, then calibrated to a block of ``iters`` calls lasting about
    ``block_s`` (default 0.05 s on CUDA, 0.25 s on CPU: on the shared CPU machines we measure on, the first call
    after another implementation's, or after idling, often runs 2-4x slower than the next ones, whatever the op,
    and a block of one or two calls of a fast implementation would then measure that switch, not the op). Every
    round times one block of each implementation, rotating the order so that none always runs right after a
    particular other. Rounds continue until ``min_runs`` rounds are done and either ``budget_s``
    seconds have passed or ``max_runs`` is reached. On CUDA the time of each call is taken with CUDA events (the
    synchronisation is inside the measurement) and, with ``flush_l2``, the L2 cache is overwritten between calls.

    Returns:
        {name: Stats} with per-call seconds.
    """
    if not fns:
        raise BenchmarkError("time_interleaved: no implementations given")
    flush = _L2Flusher(device) if (device.type == "cuda" and flush_l2) else None
    if block_s is None:
        block_s = 0.05 if device.type == "cuda" else 0.25
    iters: Dict[str, int] = {}
    for name, fn in fns.items():
        for _ in range(max(warmup, 1)):
            fn()
        sync(device)
        t = _time_block(fn, 1, device, flush)
        iters[name] = max(1, min(10_000, int(block_s / max(t, 1e-9))))
    names = list(fns)
    samples: Dict[str, List[float]] = {n: [] for n in names}
    t_start = time.perf_counter()
    r = 0
    while r < max_runs:
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            samples[name].append(_time_block(fns[name], iters[name], device, flush))
        r += 1
        if r >= min_runs and time.perf_counter() - t_start > budget_s:
            break
    return {n: Stats.of(samples[n], iters[n]) for n in names}


def paired_ratio(num: Stats, den: Stats) -> float:
    """Median over rounds of ``num_i / den_i`` (rounds were interleaved, so each pair saw the same machine load)."""
    k = min(len(num.samples), len(den.samples))
    return statistics.median(num.samples[i] / den.samples[i] for i in range(k))


# ----------------------------------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------------------------------

_libc = None


def _glibc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018 - probe the symbol
        except (OSError, AttributeError):
            _libc = False
    return _libc


def _proc_status(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _rss_peak(fn: Callable[[], object]) -> Optional[int]:
    """Peak RSS growth during ``fn()`` (Linux: reset VmHWM through /proc/self/clear_refs), or None if unsupported."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = _proc_status("VmRSS")
    result = fn()
    peak = _proc_status("VmHWM")
    del result
    if before is None or peak is None:
        return None
    return max(0, peak - before)


def _allocator_peak(fn: Callable[[], object]) -> Optional[int]:
    """Peak bytes held by the c10 CPU allocator during ``fn()`` above the level at entry (torch profiler records
    every allocation and free, including those inside C++ kernels)."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            result = fn()
            del result
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except (RuntimeError, AttributeError):
        return None
    events.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


def peak_memory(fn: Callable[[], object], device: torch.device, result_bytes: int) -> dict:
    """Peak extra memory of one call ``fn()`` beyond what was allocated before it.

    CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation at entry. CPU: two views, the c10 allocator
    peak (torch profiler; exact for torch allocations, including those inside C++ kernels) and the RSS
    high-water-mark growth after ``malloc_trim`` (sees malloc'd scratch outside torch whenever it needs new pages).
    glibc's allocator settings are left alone, so measuring memory never changes the timings that follow.
    ``scratch_bytes`` = peak minus ``result_bytes`` (the tensors the call must hand back: output and/or gradient).
    """
    out: dict = {"result_bytes": int(result_bytes)}
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del result
        out.update(method="cuda.max_memory_allocated", peak_bytes=int(peak))
    else:
        alloc = _allocator_peak(fn)
        rss = _rss_peak(fn)
        peak = max(v for v in (alloc, rss, 0) if v is not None)
        out.update(method="max(c10 allocator peak via torch.profiler, RSS high-water growth)",
                   allocator_peak_bytes=alloc, rss_peak_bytes=rss, peak_bytes=int(peak))
    out["scratch_bytes"] = int(out["peak_bytes"]) - int(result_bytes)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# bandwidth reference and metadata
# ----------------------------------------------------------------------------------------------------------------------


def copy_bandwidth(device: torch.device, nbytes: Optional[int] = None, budget_s: float = 1.0) -> dict:
    """Measured device copy bandwidth: ``dst.copy_(src)`` of a large buffer, counting read + write bytes."""
    if nbytes is None:
        nbytes = (1 << 30) if device.type == "cuda" else (64 << 20)
    n = nbytes // 4
    src = torch.ones(n, dtype=torch.float32, device=device)  # [n]
    dst = torch.empty_like(src)
    st = time_interleaved({"copy": lambda: dst.copy_(src)}, device, warmup=2, block_s=0.02, min_runs=5,
                          budget_s=budget_s, flush_l2=False)["copy"]
    moved = 2 * n * 4
    return {"bytes_moved": moved, "time_s": st.median, "gbps": moved / st.median / 1e9,
            "threads": torch.get_num_threads() if device.type == "cpu" else None}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> Optional[str]:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "csrc", "gaitedge/ops"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty-ops" if dirty else "")) if sha else None


def _version(module: str) -> Optional[str]:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - absence of an optional baseline library is normal
        return None


def metadata(devices: Sequence[torch.device]) -> dict:
    """Machine, library and build facts recorded with every result file."""
    meta = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads_default": torch.get_num_threads(),
        "git_commit": _git_commit(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "kornia": _version("kornia"),
        "torchvision": _version("torchvision"),
        "gaitedge": _version("gaitedge"),
        "devices": [],
    }
    try:
        from gaitedge._extension import build_info

        meta["gaitedge_build"] = build_info()
    except ImportError:
        meta["gaitedge_build"] = None
    for dev in devices:
        if dev.type == "cuda":
            p = torch.cuda.get_device_properties(dev)
            meta["devices"].append({"device": str(dev), "name": p.name, "capability": f"{p.major}.{p.minor}",
                                    "memory_bytes": p.total_memory, "sms": p.multi_processor_count})
        else:
            meta["devices"].append({"device": "cpu", "name": meta["cpu_model"]})
    return meta


# ----------------------------------------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------------------------------------


def _tolerance(dtype: torch.dtype) -> float:
    return {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-10}.get(dtype, 2e-5)


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        raise BenchmarkError(f"shape mismatch: {tuple(a.shape)} vs reference {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    return float((a.detach().double() - b.detach().double()).abs().max())


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


def _pass_fns(case: Case, impl: Callable[..., torch.Tensor], inputs: Dict[str, torch.Tensor], pass_: str):
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


def check_impls(case: Case, device: torch.device) -> Dict[str, dict]:
    """Runs forward and backward of every implementation on the same inputs and compares with ``reference``."""
    inputs = case.make_inputs(device)
    if case.check_frames is not None:
        inputs = {k: v[: case.check_frames] for k, v in inputs.items()}  # every input is batched on dim 0
    x = inputs[case.grad_input].detach().clone().requires_grad_(True)
    ref = case.impls["reference"](**dict(inputs, **{case.grad_input: x}))
    g = torch.rand_like(ref)
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    tol = _tolerance(x.dtype)
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


def limit_call_cost(case: Case, device: torch.device, max_call_s: Optional[float], probe_frames: int = 8) -> None:
    """Keeps a sweep's slow baselines from taking minutes (or all memory) per call.

    Frames are independent, so the cost of a fwd+bwd call grows with N: each baseline (and the reference oracle) is
    run on the first ``probe_frames`` frames and its full-size cost extrapolated linearly. A baseline over
    ``max_call_s`` is dropped with the estimate as its reason (kornia's unfold morphology at k = 9 and N = 1024
    wants ~5 GB and minutes a call). A reference over it is still the correctness oracle, on the number of frames
    it can do in ``max_call_s``, but is not timed. The fused op and ``compiled`` are never probed: the first is the
    subject, and probing the second would compile it for a shape the sweep does not time.
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
            step, _ = _pass_fns(case, case.impls[name], inputs, "fwd+bwd")
            step()  # the timed call is the next one: this one pays one-off set-up
            t = _time_block(step, 1, device, None)
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
                fns[name], result_bytes[name] = _pass_fns(case, impl, inputs, pass_)
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


# ----------------------------------------------------------------------------------------------------------------------
# result files
# ----------------------------------------------------------------------------------------------------------------------


class Results:
    """Collects rows, targets and metadata; writes ``<stem>.json`` and, from that JSON, ``.md`` and ``.png``."""

    def __init__(self, bench: str, devices: Sequence[torch.device], command: Optional[str] = None):
        self.data = {
            "schema": SCHEMA,
            "bench": bench,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command or " ".join([Path(sys.executable).name] + sys.argv),
            "meta": metadata(devices),
            "copy_bandwidth": {},
            "rows": [],
            "targets": [],
        }

    def copy_gbps(self, device: torch.device, threads: Optional[int] = None) -> float:
        key = str(device) if device.type == "cuda" else f"cpu/{threads or torch.get_num_threads()}t"
        if key not in self.data["copy_bandwidth"]:
            with num_threads(threads if device.type == "cpu" else None):
                self.data["copy_bandwidth"][key] = copy_bandwidth(device)
        return self.data["copy_bandwidth"][key]["gbps"]

    def add(self, rows: Sequence[dict]) -> None:
        self.data["rows"].extend(rows)

    def target(self, name: str, goal: str, measured: str, met: Optional[bool], device: str, **extra) -> None:
        self.data["targets"].append({"name": name, "goal": goal, "measured": measured, "met": met,
                                     "device": device, "command": self.data["command"], **extra})

    def write(self, out_dir: Optional[Path] = None, stem: Optional[str] = None) -> Dict[str, Path]:
        out_dir = Path(out_dir) if out_dir is not None else RESULTS_DIR
        out_dir.mkdir(parents=True, exist_ok=True)
        self.data["meta"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        stem = stem or self.data["bench"]
        paths = {"json": out_dir / f"{stem}.json", "md": out_dir / f"{stem}.md"}
        paths["json"].write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        data = json.loads(paths["json"].read_text())  # tables and plots come from the file, not from memory
        paths["md"].write_text(render_markdown(data))
        png = render_plot(data, out_dir / f"{stem}.png")
        if png is not None:
            paths["png"] = png
        return paths


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _fmt_bytes(b: Optional[float]) -> str:
    if b is None:
        return "–"
    return f"{b / 2 ** 20:.1f} MiB"


_KEY_COLS = ("N", "C", "H", "W", "k", "dtype", "mask_dtype", "batch")


def render_markdown(data: dict) -> str:
    """Markdown report of a result file: metadata, targets, then one table per op/device/threads/pass."""
    meta = data["meta"]
    lines = [f"# Benchmark `{data['bench']}`", "",
             f"- command: `{data['command']}`",
             f"- created: {data['created']}; commit `{meta.get('git_commit')}`",
             f"- CPU: {meta.get('cpu_model')} ({meta.get('cpu_count')} logical cores); load average at start "
             f"{meta.get('loadavg_start')}, end {meta.get('loadavg_end')}",
             f"- torch {meta.get('torch')} (CUDA {meta.get('torch_cuda')}); kornia {meta.get('kornia')}; "
             f"torchvision {meta.get('torchvision')}",
             f"- devices: {', '.join(d['device'] + ' = ' + d['name'] for d in meta.get('devices', []))}"]
    for key, cb in data.get("copy_bandwidth", {}).items():
        lines.append(f"- measured copy bandwidth {key}: {cb['gbps']:.1f} GB/s (read + write)")
    if data.get("targets"):
        lines += ["", "## Targets", "", "| target | goal | measured | met | device |", "|---|---|---|---|---|"]
        for t in data["targets"]:
            met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['name']} | {t['goal']} | {t['measured']} | {met} | {t['device']} |")
    groups: Dict[tuple, List[dict]] = {}
    for r in data["rows"]:
        groups.setdefault((r["op"], r["device"], r.get("threads"), r["pass"]), []).append(r)
    for (op, dev, thr, pass_), rows in groups.items():
        keys = _KEY_COLS + ("P", "K", "frames", "amp")
        cols = [c for c in keys if any(c in r for r in rows)]
        rated = any("rate" in r for r in rows)
        lines += ["", f"## {op} · {pass_} · {dev}" + (f" · {thr} thread(s)" if thr else ""), ""]
        perf = ["rate"] if rated else ["GB/s", "Mpx/s", "copy %"]
        head = cols + ["impl", "median", "IQR"] + perf + ["speed-up of fused", "peak extra"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in rows:
            t = r["time_s"]
            sp = r.get("speedup")
            sp_txt = ", ".join(f"{v['ratio_of_medians']:.1f}× vs {k}" for k, v in sp.items()) if sp else ""
            if rated:
                perf_vals = [f"{r['rate']:.2f} {r.get('rate_unit', '')}"]
            else:
                frac = f"{100 * r['copy_fraction']:.0f}%" if r.get("copy_fraction") else "–"
                perf_vals = [f"{r['gbps']:.2f}", f"{r['mpix_s']:.0f}", frac]
            mem = _fmt_bytes(r["memory"]["peak_bytes"]) if r.get("memory") else "–"
            vals = [str(r.get(c, "")) for c in cols] + [r["impl"], _fmt_time(t["median"]), _fmt_time(t["iqr"])] + \
                perf_vals + [sp_txt, mem]
            lines.append("| " + " | ".join(vals) + " |")
        notes = [f"- {', '.join(f'{c}={r[c]}' for c in cols if c in r)}: `{name}`: {why}"
                 for r in rows for name, why in (r.get("skipped") or {}).items()]
        if notes:
            lines += ["", "Baselines missing from this table, and why:", ""] + list(dict.fromkeys(notes))
    return "\n".join(lines) + "\n"


def render_plot(data: dict, path: Path) -> Optional[Path]:
    """Bar chart of effective GB/s per case and implementation (fwd+bwd when present); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for r in data["rows"] if r.get("gbps", 0) > 0]  # op rows; training-step rows have no byte count
    if not rows:
        return _render_rate_plot(data, path, plt)
    pass_ = "fwd+bwd" if any(r["pass"] == "fwd+bwd" for r in rows) else rows[0]["pass"]
    rows = [r for r in rows if r["pass"] == pass_]
    def label(r: dict) -> str:
        where = r["device"] + (f"/{r['threads']}t" if r.get("threads") else "")
        return f"{r['op']} {where} " + " ".join(f"{c}={r[c]}" for c in ("N", "H", "k", "dtype", "mask_dtype") if c in r)

    labels: List[str] = []
    impls: List[str] = []
    val: Dict[tuple, float] = {}
    for r in rows:
        lab = label(r)
        if lab not in labels:
            labels.append(lab)
        if r["impl"] not in impls:
            impls.append(r["impl"])
        val[(lab, r["impl"])] = r["gbps"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(labels) * len(impls)), 4.5))
    width = 0.8 / len(impls)
    for j, impl in enumerate(impls):
        xs = [i + j * width for i in range(len(labels))]
        ax.bar(xs, [val.get((lab, impl), 0.0) for lab in labels], width, label=impl)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("effective GB/s (compulsory bytes / median time)")
    ax.set_yscale("log")
    ax.set_title(f"{data['bench']} · {pass_}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _render_rate_plot(data: dict, path: Path, plt) -> Optional[Path]:
    """Training-step results: one panel per measurement (train_step, inference), rate per implementation."""
    rows = [r for r in data["rows"] if r.get("rate")]
    ops = list(dict.fromkeys(r["op"] for r in rows))
    if not ops:
        return None
    fig, axes = plt.subplots(1, len(ops), figsize=(4.5 * len(ops), 4.0), squeeze=False)
    for ax, op in zip(axes[0], ops):
        sel = [r for r in rows if r["op"] == op]
        labels = [f"{r['impl']}\n{r['device']}" + (f"/{r['threads']}t" if r.get("threads") else "") for r in sel]
        ax.bar(range(len(sel)), [r["rate"] for r in sel], color=["C0" if r["impl"] == "fused" else "C7" for r in sel])
        ax.set_xticks(range(len(sel)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(sel[0]["rate_unit"])
        ax.set_title(op)
    fig.suptitle(data["bench"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_results(path: Path) -> dict:
    """Reads a result file and checks its schema tag."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"cannot read result file {path}: {e}") from None
    if data.get("schema") != SCHEMA:
        raise BenchmarkError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
    return data


if __name__ == "__main__":  # re-render tables and plots from result JSON files
    for p in sys.argv[1:]:
        d = load_results(Path(p))
        Path(p).with_suffix(".md").write_text(render_markdown(d))
        render_plot(d, Path(p).with_suffix(".png"))
        print(f"rendered {Path(p).with_suffix('.md')}")


# ----------------------------------------------------------------------------------------------------------------------
# inputs and command-line helpers shared by the bench_* scripts
# ----------------------------------------------------------------------------------------------------------------------


def silhouettes(n: int, h: int, w: int, dtype: torch.dtype, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Person-like binary silhouettes ``[n, 1, h, w]``: a torso ellipse plus two leg bars, random size and position,
    so edge bands, boxes and median columns vary per frame as in real data."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.arange(h, dtype=torch.float32).view(1, h, 1)  # [1, h, 1]
    xx = torch.arange(w, dtype=torch.float32).view(1, 1, w)  # [1, 1, w]
    cx = w / 2 + (torch.rand(n, 1, 1, generator=g) - 0.5) * w / 4  # [n, 1, 1]
    top = h * (0.05 + 0.1 * torch.rand(n, 1, 1, generator=g))
    bottom = h * (0.85 + 0.14 * torch.rand(n, 1, 1, generator=g))
    half_w = w * (0.08 + 0.1 * torch.rand(n, 1, 1, generator=g))
    mid = top + 0.55 * (bottom - top)
    torso = ((xx - cx) / half_w) ** 2 + ((yy - (top + mid) / 2) / ((mid - top) / 2)) ** 2 <= 1  # [n, h, w]
    stride = half_w * (0.2 + 0.8 * torch.rand(n, 1, 1, generator=g))
    legs = ((xx - (cx - stride)).abs() < half_w * 0.35) | ((xx - (cx + stride)).abs() < half_w * 0.35)
    legs = legs & (yy >= mid - 2) & (yy < bottom)
    m = (torso | legs).unsqueeze(1)  # [n, 1, h, w] bool
    return m.to(device=device, dtype=dtype)


def probabilities(sil: torch.Tensor, dtype: torch.dtype, seed: int = 1) -> torch.Tensor:
    """A segmentation-like probability map ``[n, 1, h, w]``: the silhouette blurred by noise, in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(sil.shape, generator=g).to(sil.device)
    return (0.8 * sil.float() + 0.2 * noise).clamp(0, 1).to(dtype)


def axis_sweep(centre: Dict[str, object], axes: Sequence[Dict[str, Sequence]]) -> List[Dict[str, object]]:
    """Points that vary one axis at a time through ``centre``, in order and without repeats.

    An axis is ``{parameter: values}``; several parameters in one axis vary jointly (their product), e.g. the prob
    dtype with the mask dtype. Every listed value gets a row, at a cost that adds over the axes instead of
    multiplying (a full factorial of the sweep's lists is ~60 points a dtype pair: hours on a CPU, and
    ``--N/--size/--k/--dtypes/--masks`` lists still give one).
    """
    points: List[Dict[str, object]] = []
    for axis in axes:
        names = list(axis)
        for values in itertools.product(*(axis[n] for n in names)):
            pt = dict(centre, **dict(zip(names, values)))
            if pt not in points:
                points.append(pt)
    return points if centre in points else [dict(centre)] + points


def op_sweep(with_k: bool = True) -> List[Dict[str, object]]:
    """The op sweep (``--full``): N in {1, 30, 240, 1024, 1920}, 64²/128²/256², k in {3, 5, 7, 9} and every
    prob dtype with every mask dtype, one axis at a time through N = 240, 128², k = 3, fp32 prob, uint8 mask."""
    f32, u8 = torch.float32, torch.uint8
    centre: Dict[str, object] = {"N": 240, "size": 128, "k": 3, "dtype": f32, "mask": u8}
    axes: List[Dict[str, Sequence]] = [
        {"N": [1, 30, 240, 1024, 1920]},
        {"size": [64, 128, 256]},
        {"k": [3, 5, 7, 9]},
        {"dtype": [f32, torch.float16, torch.bfloat16], "mask": [torch.bool, u8, f32]},
    ]
    if not with_k:
        del centre["k"]
        axes = [a for a in axes if "k" not in a]
    return axis_sweep(centre, axes)


def parse_ints(text: str, name: str) -> List[int]:
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise BenchmarkError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 0 for v in vals):
        raise BenchmarkError(f"{name}: expected non-negative integers, got {text!r}")
    return vals


def parse_dtypes(text: str, name: str) -> List[torch.dtype]:
    out = []
    for v in [v.strip() for v in str(text).split(",") if v.strip()]:
        if v not in DTYPES:
            raise BenchmarkError(f"{name}: unknown dtype {v!r} (one of {sorted(DTYPES)})")
        out.append(DTYPES[v])
    if not out:
        raise BenchmarkError(f"{name}: no dtype given")
    return out


def parse_passes(text: str) -> List[str]:
    vals = [v.strip() for v in str(text).split(",") if v.strip()]
    bad = [v for v in vals if v not in PASSES]
    if bad or not vals:
        raise BenchmarkError(f"--passes: expected a comma-separated subset of {PASSES}, got {text!r}")
    return vals


def add_common_args(p) -> None:
    """Options every bench_* script shares."""
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, a comma list, or auto (default)")
    p.add_argument("--threads", default=None, help="CPU thread counts to sweep, e.g. 1,2 (default: torch's)")
    p.add_argument("--passes", default="fwd,bwd,fwd+bwd", help="subset of fwd,bwd,fwd+bwd")
    p.add_argument("--impls", default=None, help="comma list of implementations to keep (default: all available)")
    p.add_argument("--budget", type=float, default=None, help="seconds of interleaved timing per case and pass")
    p.add_argument("--min-runs", type=int, default=5, help="timed rounds per implementation at least")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    p.add_argument("--full", action="store_true", help="the op sweep: every listed value of each axis, one axis at a time")
    p.add_argument("--max-call-s", type=float, default=None,
                   help="drop a baseline whose fwd+bwd call would take longer (estimated from 8 frames; default 3 "
                        "in sweeps, no limit at --target points; 0 = no limit)")
    p.add_argument("--out", default=None, help=f"folder for the JSON/Markdown/PNG results (default {RESULTS_DIR})")
    p.add_argument("--stem", default=None, help="result file name without suffix")
    p.add_argument("--command", default=None, help="command line recorded in the result (default: sys.argv)")


def thread_counts(args) -> List[Optional[int]]:
    return [None] if args.threads is None else parse_ints(args.threads, "--threads")


def select_impls(case: "Case", args) -> None:
    """Applies ``--impls``: drops unlisted baselines; an unlisted reference is still the correctness oracle but is
    not timed (the per-frame reference oracles take minutes at N=1024)."""
    if not getattr(args, "impls", None):
        return
    wanted = {v.strip() for v in args.impls.split(",") if v.strip()} | {case.primary}
    unknown = wanted - set(case.impls) - {"compiled", "opengait", "composite"}
    if unknown:
        raise BenchmarkError(f"--impls: unknown implementation(s) {sorted(unknown)} (have {sorted(case.impls)})")
    case.impls = {k: v for k, v in case.impls.items() if k in wanted or k == "reference"}
    if "reference" not in wanted:
        case.untimed.add("reference")


def run_targets(op: str, args, points_for: Callable[[torch.device], Sequence[tuple]], make_case: Callable[..., Case],
                targets: Callable[["Results", List[dict]], None], *, results: Optional["Results"] = None,
                budget_s: float = 20.0) -> "Results":
    """The ``--target`` run: each device's own target points (``points_for(device)``) into one result set.

    ``--device auto`` means the CPU point plus the GPU points when CUDA is present. CPU points run at 2 threads
    (where the CPU targets are set). Files: ``{op}_target`` (or ``--stem``) unless ``results`` is given.
    """
    devices = pick_devices(args.device)
    res = results or Results(op, devices, command=args.command)
    for dev in devices:
        run_sweep(op, args, points_for(dev), make_case, targets, devices=[dev],
                  threads=[2] if dev.type == "cpu" else None, budget_s=budget_s, results=res, max_call_s=None)
    if results is None:
        paths = res.write(args.out, args.stem or f"{op}_target")
        print("wrote", ", ".join(str(p) for p in paths.values()))
    return res


def run_sweep(op: str, args, points: Sequence[tuple], make_case: Callable[..., Case],
              targets: Optional[Callable[["Results", List[dict]], None]] = None, *,
              devices: Optional[Sequence[torch.device]] = None, threads: Optional[Sequence[Optional[int]]] = None,
              budget_s: float = 3.0, results: Optional["Results"] = None, stem: Optional[str] = None,
              max_call_s: Optional[float] = 3.0) -> "Results":
    """The loop every op benchmark shares: devices x CPU thread counts x points, one :func:`run_case` each.

    ``make_case(*point, compile_baseline=bool)`` builds the case; ``targets(results, rows)`` may add target lines.
    Writes the result files unless ``results`` (a shared collector, as used by ``gaitedge bench``) is given.
    """
    devices = list(devices) if devices is not None else pick_devices(args.device)
    threads = list(threads) if threads is not None else thread_counts(args)
    res = results or Results(op, devices, command=args.command)
    passes = parse_passes(args.passes)
    budget = args.budget if args.budget is not None else budget_s
    cap = max_call_s if args.max_call_s is None else (args.max_call_s if args.max_call_s > 0 else None)
    for dev in devices:
        for thr in (threads if dev.type == "cpu" else [None]):
            with num_threads(thr):
                copy = res.copy_gbps(dev, thr)
                for pt in points:
                    case = make_case(*pt, compile_baseline=not args.no_compile)
                    select_impls(case, args)
                    print(f"[{op}] {dev} threads={thr or torch.get_num_threads()} {case.params}", flush=True)
                    rows = run_case(case, dev, passes, threads=thr, budget_s=budget, min_runs=args.min_runs,
                                    memory=not args.no_memory, copy_gbps=copy if dev.type == "cuda" else None,
                                    max_call_s=cap)
                    res.add(rows)
                    if targets is not None:
                        targets(res, rows)
                    if results is None:  # rewrite after every point: a long sweep cut short keeps what it measured
                        res.write(args.out, stem or op)
                    for r in rows:
                        if r.get("speedup"):
                            print(f"    {r['pass']:8s} {r['impl']} {_fmt_time(r['time_s']['median'])}: " + ", ".join(
                                f"{v['ratio_of_medians']:.1f}x vs {k}" for k, v in r["speedup"].items()), flush=True)
    if results is None:
        paths = res.write(args.out, stem or op)
        print("wrote", ", ".join(str(p) for p in paths.values()))
    return res
