"""The benchmark suite (ops and the GaitEdge training step) in one command; ``gaitedge bench`` runs this.

    python -m benchmarks.suite                  # quick sweep: a few minutes on 2 CPU cores
    python -m benchmarks.suite --full           # the op sweeps at 1 and 2 threads (about 1.5 h on 2 CPU cores)
    python -m benchmarks.suite --only gait_synthesis,train_step --device cuda --out results/
    python -m benchmarks.suite --target         # only the headline target points (CPU at 2 threads; CUDA ones too
                                                # when a GPU is present, or with --device cuda)

Run from the root of a source checkout. Results (JSON + Markdown + PNG per benchmark) go to ``--out`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import List, Optional

from benchmarks.harness import BenchmarkError
from benchmarks.harness.results import RESULTS_DIR

__all__ = ["main", "build_parser", "BENCHES", "TARGETED"]

BENCHES = ("gait_synthesis", "gait_align", "gait_edge_align", "train_step")
# Benchmarks with a --target mode (the headline target points).
TARGETED = ("gait_synthesis", "gait_edge_align")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gaitedge bench", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true",
                   help="the op sweeps (every listed N, size, k and dtype pair, one axis at a time) instead of the "
                        "quick default")
    p.add_argument("--target", action="store_true", help="only the headline target points")
    p.add_argument("--tiny", action="store_true",
                   help="smoke run: tiny shapes and budgets, no torch.compile (seconds per op; for CI)")
    p.add_argument("--only", default=",".join(BENCHES), help=f"comma list from {', '.join(BENCHES)}")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, a comma list, or auto (default)")
    p.add_argument("--threads", default=None, help="CPU thread counts, e.g. 1,2 (default: 1,2 with --full)")
    p.add_argument("--out", default=None, help="folder for the result files (default benchmarks/results)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile baselines")
    p.add_argument("--no-memory", action="store_true", help="skip peak-memory measurements")
    p.add_argument("--budget", type=float, default=None, help="seconds of timing per case and pass")
    return p


def _op_args(name: str, a, out: Path) -> List[str]:
    argv = ["--device", a.device, "--out", str(out)]
    if a.threads or a.full:
        argv += ["--threads", a.threads or "1,2"]
    for flag in ("no_compile", "no_memory"):
        if getattr(a, flag) or (a.tiny and flag == "no_compile"):  # compiling is most of a tiny run's time
            argv.append("--" + flag.replace("_", "-"))
    if a.budget is not None:
        argv += ["--budget", str(a.budget)]
    if name == "train_step":
        if a.tiny:
            argv += ["--P", "2", "--K", "2", "--frames", "2", "--size", "32", "--budget", "0.1", "--min-runs", "2"]
        return argv + ["--stem", f"train_step_{_mode(a)}"]
    if a.tiny:
        size_flag = ["--size", "16"]
        argv += ["--N", "2"] + size_flag + ["--budget", "0.05", "--min-runs", "2", "--passes", "fwd,fwd+bwd"]
    elif a.target:
        argv.append("--target")
        if name == "gait_edge_align":  # its reference is a per-frame float64 oracle: checked, not timed at N=1024
            argv += ["--impls", "fused,composite,compiled,opengait"]
    elif a.full:
        argv.append("--full")
        if name == "gait_synthesis":
            argv.append("--suite")
    return argv + ["--stem", f"{name}_{_mode(a)}"]


def _mode(a) -> str:
    return "tiny" if a.tiny else "target" if a.target else "full" if a.full else "quick"


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `gaitedge bench -- --full`: the CLI passes the separator through
        argv = argv[1:]
    a = build_parser().parse_args(argv)
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    bad = [n for n in names if n not in BENCHES]
    if bad or not names:
        print(f"gaitedge bench: --only: unknown benchmark(s) {bad} (choose from {', '.join(BENCHES)})",
              file=sys.stderr)
        return 2
    if a.target:
        names = [n for n in names if n in TARGETED]
    out = Path(a.out) if a.out else RESULTS_DIR
    targets, ran = [], []
    t0 = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        try:
            res = module.main(_op_args(name, a, out))
        except (BenchmarkError, ImportError) as e:
            # An op that is not in this build (or a model that is not) is reported and skipped, not fatal, unless
            # every benchmark asked for is skipped (no GPU behind --device cuda, say): then nothing was measured.
            print(f"gaitedge bench: {name}: skipped: {e}", file=sys.stderr)
            continue
        ran.append(name)
        targets += res.data["targets"]
    if targets:
        print("\ntargets:")
        for t in targets:
            met = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
            print(f"  [{met}] {t['name']}: {t['measured']} (goal {t['goal']})")
    if not ran:
        print(f"gaitedge bench: nothing was measured ({', '.join(names)} all skipped)", file=sys.stderr)
        return 1
    print(f"gaitedge bench: done in {time.perf_counter() - t0:.0f} s ({', '.join(ran)}); results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
