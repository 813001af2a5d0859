"""Re-renders the Markdown tables and PNG plots of result files from their JSON.

    python -m benchmarks.render benchmarks/results/*.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from benchmarks.harness import BenchmarkError
from benchmarks.harness.results import render_files


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="*", type=Path, help="result JSON files (schema gaitedge-bench/1)")
    args = p.parse_args(argv)
    for path in args.files:
        try:
            paths = render_files(path)
        except BenchmarkError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"rendered {paths['md']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
