"""``gaitedge bench``: the benchmark suite of the source checkout this gaitedge is installed from.

    gaitedge bench                      # quick sweep: a few minutes on 2 CPU cores
    gaitedge bench --full               # the op sweeps at 1 and 2 threads (about 1.5 h on 2 CPU cores)
    gaitedge bench --only gait_synthesis,train_step --device cuda --out results/
    gaitedge bench --target             # only the headline target points

The benchmarks are not installed with the package: they live in the checkout's ``benchmarks/`` package, next to the
``gaitedge`` folder of an editable install (``pip install -e .``). This command runs ``python -m benchmarks.suite``
there, with the same interpreter, so both import the same gaitedge; ``python -m benchmarks.suite --help`` lists the
options. A relative ``--out`` is taken from the directory the command was started in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["main", "find_checkout"]

_PACKAGE_DIR = Path(__file__).resolve().parent


class BenchSetupError(RuntimeError):
    pass


def find_checkout(package_dir: Optional[Path] = None) -> Path:
    """The source checkout holding this gaitedge package (or ``package_dir``) and the ``benchmarks`` package beside
    it."""
    package_dir = _PACKAGE_DIR if package_dir is None else package_dir
    root = package_dir.parent
    if not (root / "benchmarks" / "suite.py").is_file():
        raise BenchSetupError(
            f"gaitedge is installed from {package_dir}, which has no benchmarks/suite.py beside it: the benchmarks "
            "ship with the source checkout only. Install gaitedge from a checkout with `pip install -e .`, or run "
            "`python -m benchmarks.suite` from the root of one")
    return root


def _absolute_out(argv: List[str], cwd: Path) -> List[str]:
    """``argv`` with the value of ``--out`` made absolute, since the suite runs from the checkout, not from ``cwd``."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--out" and i + 1 < len(out):
            out[i + 1] = str(cwd / out[i + 1])
        elif arg.startswith("--out="):
            out[i] = "--out=" + str(cwd / arg[len("--out="):])
    return out


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `gaitedge bench -- --full`: the CLI passes the separator through
        argv = argv[1:]
    try:
        root = find_checkout()
    except BenchSetupError as e:
        print(f"gaitedge bench: {e}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "benchmarks.suite", *_absolute_out(argv, Path(os.getcwd()))]
    proc = subprocess.Popen(cmd, cwd=root)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the suite got the same SIGINT; its result files are rewritten after every point
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
