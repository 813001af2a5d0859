"""Runs gaitedge's command line (``gaitedge.cli.main``, what ``python -m gaitedge`` runs) on every case of a JSON
file, in this one process under an address-space limit and each case under a time limit, and appends one JSON line
per case to the output file: its exit status, its stderr, and whether it ended in a traceback or ran out of time.

A "start" line is written before each case, so a case that kills the whole process (a crash in native code) is
known by the start line without a result after it.

Usage: python _driver.py CASES.json OUT.jsonl MEMORY_MIB SECONDS_PER_CASE
"""

import contextlib
import io
import json
import resource
import signal
import sys
import time
import traceback


class _Hang(BaseException):
    """Raised by the alarm: the case ran past its time limit."""


def _alarm(signum, frame):
    raise _Hang()


def main(cases_path: str, out_path: str, memory_mib: int, seconds: int) -> None:
    limit = memory_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from gaitedge.cli import main as cli

    signal.signal(signal.SIGALRM, _alarm)
    with open(cases_path) as f:
        cases = json.load(f)
    with open(out_path, "a") as out:
        for case in cases:
            out.write(json.dumps({"start": case["name"]}) + "\n")
            out.flush()
            err, rc, outcome = io.StringIO(), None, "exit"
            t0 = time.perf_counter()
            signal.alarm(seconds)
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    rc = cli(case["argv"])
            except _Hang:
                outcome = "hang"
            except SystemExit as e:  # argparse's own errors
                rc = e.code
            except BaseException:
                outcome = "traceback"
                err.write(traceback.format_exc())
            finally:
                signal.alarm(0)
            out.write(json.dumps({"name": case["name"], "rc": rc, "outcome": outcome, "stderr": err.getvalue(),
                                  "seconds": round(time.perf_counter() - t0, 3)}) + "\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
