"""``gaitedge pretreat`` against OpenGait's pretreatment on one PNG tree: same frames first, then wall time.

    python -m benchmarks.bench_pretreat --tree /tmp/casiab-png              # make the tree if missing, then time
    python -m benchmarks.bench_pretreat --tree /tmp/casiab-png --opengait-script OpenGait/datasets/pretreatment.py

The tree is CASIA-B-like, ``<id>/<type>/<view>/<frame>.png``: 320×240 grey silhouettes of a walking figure, written
by OpenCV (libpng's adaptive filters, like real data). The default 3 ids × 10 types × 2 views × 20 frames is 1,200
frames. The baseline is ``opengait_pretreat_baseline.py``, a re-statement of OpenGait's ``datasets/pretreatment.py``
(a pool of 4 workers, its default, with per-frame OpenCV work and pickle output); ``--opengait-script`` also times
the real script when you have it. Each tool runs with its defaults, in the default environment (no thread
variables set), as fresh processes (start-up and imports included). One untimed round warms the page cache and
checks that every tool wrote the same frames (the run stops if not); then the timed rounds alternate their order.
Wall time and CPU time (user + system, workers included) are both recorded: on a machine shared with other jobs
the wall times swing with their load, the CPU times much less.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TYPES = ["nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"]


def _figure(t: float, subject: int, width: int = 320, height: int = 240):
    """One silhouette frame: head, torso and swinging limbs of a figure crossing the frame."""
    import cv2

    img = np.zeros((height, width), np.uint8)
    x = int(40 + (width - 80) * t)
    scale = 0.85 + 0.03 * (subject % 5)
    phase = np.sin(2 * np.pi * 3 * t)
    hip, shoulder, head = int(150 * scale), int(75 * scale), int(52 * scale)
    cv2.circle(img, (x, head), int(12 * scale), 255, -1)
    cv2.ellipse(img, (x, (shoulder + hip) // 2), (int(14 * scale), (hip - shoulder) // 2 + 6), 0, 0, 360, 255, -1)
    for sign in (1, -1):
        foot = (int(x + sign * 28 * phase * scale), int(225 * scale))
        cv2.line(img, (x, hip), foot, 255, int(11 * scale))
        hand = (int(x - sign * 20 * phase * scale), int(130 * scale))
        cv2.line(img, (x, shoulder + 5), hand, 255, int(7 * scale))
    return img


def make_tree(root: Path, ids: int, types: int, views: int, frames: int) -> int:
    import cv2

    n = 0
    for s in range(ids):
        for ty in TYPES[:types]:
            for v in range(views):
                folder = root / f"{s + 1:03d}" / ty / f"{v * 18:03d}"
                folder.mkdir(parents=True, exist_ok=True)
                for f in range(frames):
                    cv2.imwrite(str(folder / f"{s + 1:03d}-{ty}-{v * 18:03d}-{f:03d}.png"), _figure(f / frames, s))
                    n += 1
    return n


def decode_table(tree: Path, frames: int = 300) -> list[dict]:
    """ms per frame of each available decoder on the tree's first frames (one process, one thread)."""
    files = sorted(tree.glob("*/*/*/*.png"))[:frames]
    blobs = [f.read_bytes() for f in files]
    decoders = {}
    import cv2

    from gaitedge.data.png import read_png

    decoders["gaitedge read_png (OpenCV imdecode + header check)"] = lambda i: read_png(files[i])
    decoders["cv2.imread (OpenGait)"] = lambda i: cv2.imread(str(files[i]), cv2.IMREAD_UNCHANGED)
    decoders["cv2.imdecode from bytes"] = lambda i: cv2.imdecode(np.frombuffer(blobs[i], np.uint8),
                                                                 cv2.IMREAD_UNCHANGED)
    try:
        from PIL import Image

        decoders["Pillow open + np.asarray"] = lambda i: np.asarray(Image.open(io.BytesIO(blobs[i])))
    except ImportError:
        pass
    rows = []
    for name, fn in decoders.items():
        for i in range(min(20, len(files))):
            fn(i)  # warm-up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for i in range(len(files)):
                fn(i)
            best = min(best, (time.perf_counter() - t0) / len(files))
        rows.append({"decoder": name, "ms_per_frame": round(best * 1e3, 4)})
    return rows


def _run(cmd: list[str], out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the process and every worker it reaped)."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # from the checkout, so that `python -m gaitedge` imports the gaitedge this benchmark runs with
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _outputs(out: Path) -> dict[tuple[str, ...], np.ndarray]:
    """Every ``<id>/<type>/<view>/<view>.pkl`` the run wrote (by this benchmark's own tools: trusted pickles)."""
    import pickle

    found = {}
    for f in sorted(out.glob("*/*/*/*.pkl")):
        with open(f, "rb") as fh:
            found[f.relative_to(out).parts[:3]] = np.asarray(pickle.load(fh))
    return found


def _differences(a: dict, b: dict) -> list[str]:
    diff = [f"{'/'.join(k)}: only in one" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        if a[k].shape != b[k].shape or a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k]):
            diff.append(f"{'/'.join(k)}: {a[k].dtype}{list(a[k].shape)} against {b[k].dtype}{list(b[k].shape)}"
                        + ("" if a[k].shape != b[k].shape else f", {int((a[k] != b[k]).sum())} pixels differ"))
    return diff


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", type=Path, required=True, help="PNG tree (made here when it does not exist)")
    p.add_argument("--ids", type=int, default=3)
    p.add_argument("--types", type=int, default=10)
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--workers", type=int, default=None, help="gaitedge's -n (default: its own, the usable cores)")
    p.add_argument("--baseline-workers", type=int, default=4, help="the OpenGait tools' -n (default 4, OpenGait's)")
    p.add_argument("--opengait-script", type=Path, help="OpenGait's datasets/pretreatment.py, timed as well")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (each runs every tool once)")
    p.add_argument("--decode", action="store_true", help="also time the PNG decoders per frame")
    p.add_argument("--json", type=Path, help="write the results here")
    a = p.parse_args(argv)
    a.tree = a.tree.resolve()  # the tools run with the checkout as their working directory
    from gaitedge._system import cpu_model
    from gaitedge.data.pretreatment import default_workers

    if not a.tree.exists():
        t0 = time.perf_counter()
        n = make_tree(a.tree, a.ids, a.types, a.views, a.frames)
        print(f"made {n} frames in {a.tree} ({time.perf_counter() - t0:.1f}s)")
    n_frames = sum(1 for _ in a.tree.glob("*/*/*/*.png"))
    work = Path(tempfile.mkdtemp(prefix="bench_pretreat_"))
    py, nb = sys.executable, str(a.baseline_workers)
    base, ours, real = "opengait-style baseline", "gaitedge pretreat", "OpenGait pretreatment.py"
    cmds = {
        base: [py, str(HERE / "opengait_pretreat_baseline.py"), "-i", str(a.tree), "-o", str(work / "baseline"),
               "-n", nb],
        ours: [py, "-m", "gaitedge", "pretreat", "-i", str(a.tree), "-o", str(work / "gaitedge"), "--format",
               "opengait"] + ([] if a.workers is None else ["-n", str(a.workers)]),
    }
    outs = {base: work / "baseline", ours: work / "gaitedge"}
    if a.opengait_script:
        cmds[real] = [py, str(a.opengait_script.resolve()), "-i", str(a.tree), "-o", str(work / "opengait"), "-n",
                      nb, "-l", str(work / "opengait.log")]
        outs[real] = work / "opengait"
    times = {k: [] for k in cmds}
    cpu = {k: [] for k in cmds}
    load_before = os.getloadavg()[0]
    try:
        for name, cmd in cmds.items():
            _run(cmd, outs[name])  # untimed: page cache, bytecode caches; and the outputs to compare
        written = {k: _outputs(v) for k, v in outs.items()}
        for name in cmds:
            diff = _differences(written[base], written[name])
            if diff:
                print(f"{name} and the baseline wrote different frames ({len(diff)} sequences), e.g. {diff[:3]}",
                      file=sys.stderr)
                return 1
        for r in range(a.rounds):
            order = list(cmds) if r % 2 == 0 else list(reversed(cmds))
            for name in order:
                wall, used = _run(cmds[name], outs[name])
                times[name].append(wall)
                cpu[name].append(used)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu_model": cpu_model(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before "
                   f"and {os.getloadavg()[0]:.1f} after (other jobs included)",
        "command": "python -m benchmarks.bench_pretreat " + " ".join(argv if argv is not None else sys.argv[1:]),
        "frames": n_frames,
        "workers": {name: (a.workers or default_workers() if name == ours else a.baseline_workers) for name in cmds},
        "sequences_written": {k: len(v) for k, v in written.items()},
        "frames_written": {k: int(sum(len(x) for x in v.values())) for k, v in written.items()},
        "identical_frames": True,
        "runs": {},
    }
    for name, ts in times.items():
        med = statistics.median(ts)
        result["runs"][name] = {"seconds": [round(t, 2) for t in ts], "median_s": round(med, 2),
                                "min_s": round(min(ts), 2), "frames_per_s": round(n_frames / med),
                                "cpu_seconds": [round(t, 2) for t in cpu[name]],
                                "cpu_median_s": round(statistics.median(cpu[name]), 2)}
    for name in cmds:
        if name == ours:
            continue
        tag = "baseline" if name == base else "opengait_script"
        # paired: each round's runs were back to back, so their ratio is less exposed to other load
        paired = [b / g for b, g in zip(times[name], times[ours])]
        result[f"gaitedge_speedup_vs_{tag}"] = round(result["runs"][name]["median_s"]
                                                     / result["runs"][ours]["median_s"], 2)
        result[f"gaitedge_speedup_vs_{tag}_paired_median"] = round(statistics.median(paired), 2)
        # CPU time barely depends on what else runs on the machine: the fairer figure on a shared host
        result[f"gaitedge_cpu_ratio_vs_{tag}"] = round(result["runs"][name]["cpu_median_s"]
                                                       / result["runs"][ours]["cpu_median_s"], 2)
    if a.decode:
        result["decode"] = decode_table(a.tree)
    text = json.dumps(result, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
