"""The command-line options every op benchmark shares, and their parsing."""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING, Callable, List, Optional

import torch

from benchmarks.harness import BenchmarkError
from benchmarks.harness.cases import PASSES
from benchmarks.harness.inputs import DTYPES
from benchmarks.harness.results import RESULTS_DIR

if TYPE_CHECKING:
    from benchmarks.harness.cases import Case

__all__ = ["add_common_args", "add_point_args", "listed_points", "parse_ints", "parse_dtypes", "parse_passes",
           "thread_counts", "select_impls", "run_script"]


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
    """Options every bench_* op script shares."""
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


# option -> (parser, default when another point option is given but this one is not)
_POINT_AXES = {
    "N": (parse_ints, "1024"),
    "C": (parse_ints, "1"),
    "size": (parse_ints, "128"),
    "k": (parse_ints, "3"),
    "dtypes": (parse_dtypes, "float32"),
    "masks": (parse_dtypes, "uint8"),
}


def add_point_args(p, *, data: str, k: bool = False, channels: bool = False) -> None:
    """The options that pick an op sweep's points by hand; ``data`` names the tensor whose dtype ``--dtypes`` sets."""
    p.add_argument("--N", default=None, help="comma list of batch sizes (frames)")
    if channels:
        p.add_argument("--C", default=None, help="comma list of channel counts")
    p.add_argument("--size", default=None, help="comma list of square frame sizes")
    if k:
        p.add_argument("--k", default=None, help="comma list of kernel sizes")
    p.add_argument("--dtypes", default=None, help=f"{data} dtypes, e.g. float32,float16,bfloat16")
    p.add_argument("--masks", default=None, help="mask dtypes, e.g. bool,uint8,float32")


def listed_points(args) -> Optional[List[dict]]:
    """Every combination of the point options the script has (``add_point_args``), each point a dict keyed by
    option name; None when none was given, so the script's own default points apply."""
    axes = [a for a in _POINT_AXES if hasattr(args, a)]
    if not any(getattr(args, a) for a in axes):
        return None
    values = [_POINT_AXES[a][0](getattr(args, a) or _POINT_AXES[a][1], f"--{a}") for a in axes]
    return [dict(zip(axes, combo)) for combo in itertools.product(*values)]


def run_script(main: Callable[[], object]) -> None:
    """Runs a benchmark script's ``main``; a :class:`BenchmarkError` ends it with its message and exit status 2,
    since it is a bad option or a wrong answer, not a bug that wants a traceback."""
    try:
        main()
    except BenchmarkError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


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
