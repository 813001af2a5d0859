"""Baseline for ``gaitedge pretreat``: a re-statement of OpenGait's ``datasets/pretreatment.py`` (silhouette mode),
written here from a description of what that script does, not copied from it.

What it does, step for step as OpenGait's script, including the parts that cost time:

- lists the tree with ``Path.rglob("*.png")`` (``gei.png`` left out), grouped by ``<id>/<type>/<view>``;
- one task per sequence in a ``multiprocessing.Pool`` of ``-n`` workers (OpenGait's default: 4), no thread limits;
- per frame, in name order: ``cv2.imread`` as grey; drop the frame if its pixel sum is ``<= 10000``; keep the rows
  from the first to the last non-empty one; ``cv2.resize`` (cubic) to width ``int(r * (w / h))`` and height ``r``;
- the centre column is the first whose running column sum exceeds half the image's sum, found by a Python loop
  over the columns that sums the whole image again at every step, as the original does; no centre, or a centre
  of 0 (a falsy-zero test), drops the frame;
- the frame is the ``r // 2`` columns either side of the centre, after padding ``r // 2`` columns of float64 zeros
  on both sides when the window touches or crosses a border, converted to uint8;
- ``pickle.dump`` of the uint8 ``[n, r, 2 · (r // 2)]`` stack to ``<out>/<id>/<type>/<view>/<view>.pkl``; a
  warning for sequences of fewer than 5 frames.

It exists to be timed against ``gaitedge pretreat`` on the same tree and to check that the two write the same
frames (``bench_pretreat.py``); ``normalise`` is also the tests' reference for OpenGait's frames.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("opengait_pretreat_baseline")


def normalise(img: np.ndarray, size: int = 64) -> np.ndarray | None:
    """One grey uint8 frame ``[H, W]`` → uint8 ``[size, 2 · (size // 2)]``, or None when OpenGait drops it."""
    if img.sum() <= 10000:
        return None
    nonzero_rows = np.flatnonzero(img.sum(axis=1) != 0)
    img = img[nonzero_rows[0] : nonzero_rows[-1] + 1, :]
    aspect = img.shape[1] / img.shape[0]
    img = cv2.resize(img, (int(size * aspect), size), interpolation=cv2.INTER_CUBIC)
    running = img.sum(axis=0).cumsum()
    centre = None
    for column, value in enumerate(running):
        if value > img.sum() / 2:  # the image is summed again at each column, as in the original
            centre = column
            break
    if not centre:
        return None
    half = size // 2
    left, right = centre - half, centre + half
    if left <= 0 or right >= img.shape[1]:
        pad = np.zeros((img.shape[0], half))  # float64, as in the original
        img = np.concatenate([pad, img, pad], axis=1)
        left, right = left + half, right + half
    return img[:, left:right].astype("uint8")


def _sequence(item, out_root: str, size: int) -> int:
    key, paths = item
    frames = []
    for path in sorted(paths):
        img = normalise(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), size)
        if img is not None:
            frames.append(img)
    if frames:
        dest = os.path.join(out_root, *key)
        os.makedirs(dest, exist_ok=True)
        with open(os.path.join(dest, f"{key[2]}.pkl"), "wb") as f:
            pickle.dump(np.asarray(frames), f)
    if len(frames) < 5:
        log.warning("%s has fewer than 5 frames", key)
    return len(frames)


def _task(args) -> int:
    item, out_root, size = args
    return _sequence(item, out_root, size)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-i", "--input", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-r", "--img-size", type=int, default=64)
    p.add_argument("-n", "--workers", type=int, default=4)
    a = p.parse_args(argv)
    groups = defaultdict(list)
    for path in Path(a.input).rglob("*.png"):
        if "gei.png" in path.as_posix():
            continue
        *_, sid, seq, view, _ = path.as_posix().split("/")
        groups[(sid, seq, view)].append(path)
    with Pool(a.workers) as pool:
        frames = sum(pool.imap_unordered(_task, [(item, a.output, a.img_size) for item in groups.items()]))
    print(f"{len(groups)} sequences, {frames} frames")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    sys.exit(main())
