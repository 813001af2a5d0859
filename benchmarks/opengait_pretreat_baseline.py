"""Baseline for ``gaitedge pretreat``: the per-frame work of OpenGait's ``datasets/pretreatment.py``, written here
from a description of what it does, not copied from it.

What it does, as OpenGait does:

- one task per sequence folder ``<id>/<type>/<view>/`` in a ``multiprocessing.Pool`` of ``-n`` workers;
- per frame (``gei.png`` skipped): ``cv2.imread`` as grey; drop the frame if its pixel sum is ``<= 10000``; keep the
  rows from the first to the last non-empty one; ``cv2.resize`` (cubic) to height ``-r`` keeping the aspect ratio;
  the centre column is the first where the column-sum cumsum passes half the total, and a centre of 0 drops the
  frame (OpenGait's falsy-zero test); take ``-r`` columns around it, zero-padding ``-r/2`` columns on both sides
  first when the window crosses a border;
- ``pickle.dump`` of the uint8 ``[n, r, r]`` stack to ``<out>/<id>/<type>/<view>/<view>.pkl``; a warning for
  sequences of fewer than 5 frames.

It exists to be timed against ``gaitedge pretreat`` on the same tree (``bench_pretreat.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("opengait_pretreat_baseline")


def _frame(path: str, size: int) -> np.ndarray | None:
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if img is None or img.sum() <= 10000:
        return None
    rows = np.flatnonzero(img.sum(axis=1))
    img = img[rows[0] : rows[-1] + 1]
    width = int(size * img.shape[1] / img.shape[0])
    img = cv2.resize(img, (width, size), interpolation=cv2.INTER_CUBIC)
    column_mass = img.sum(axis=0, dtype=np.int64).cumsum()
    centre = int(np.argmax(column_mass > column_mass[-1] / 2))
    if not centre:
        return None
    half = size // 2
    left, right = centre - half, centre + half
    if left <= 0 or right >= img.shape[1]:
        img = np.concatenate([np.zeros((size, half), img.dtype), img, np.zeros((size, half), img.dtype)], axis=1)
        left, right = left + half, right + half
    return img[:, left:right].astype(np.uint8)


def _sequence(job) -> tuple[str, int]:
    folder, out_root, key, size = job
    frames = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".png") or name == "gei.png":
            continue
        img = _frame(os.path.join(folder, name), size)
        if img is not None:
            frames.append(img)
    if len(frames) < 5:
        log.warning("%s: only %d frame(s)", "/".join(key), len(frames))
    if frames:
        dest = Path(out_root).joinpath(*key)
        dest.mkdir(parents=True, exist_ok=True)
        with open(dest / f"{key[2]}.pkl", "wb") as f:
            pickle.dump(np.asarray(frames), f)
    return "/".join(key), len(frames)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-i", "--input", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-r", "--img-size", type=int, default=64)
    p.add_argument("-n", "--workers", type=int, default=4)
    a = p.parse_args(argv)
    root = Path(a.input)
    jobs = [(str(d), a.output, d.relative_to(root).parts, a.img_size) for d in sorted(root.glob("*/*/*")) if d.is_dir()]
    with Pool(a.workers) as pool:
        frames = sum(n for _, n in pool.imap_unordered(_sequence, jobs))
    print(f"{len(jobs)} sequences, {frames} frames")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    sys.exit(main())
