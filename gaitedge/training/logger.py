"""Metric sinks (JSONL, CSV, TensorBoard when installed) and a progress display (tqdm)."""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
from pathlib import Path

from gaitedge._progress import progress_bar

__all__ = ["MetricLogger", "Progress"]

log = logging.getLogger(__name__)


class MetricLogger:
    """Appends one row per logged iteration to ``metrics.jsonl`` and ``metrics.csv`` in ``run_dir``.

    On resume, rows beyond the resumed iteration (logged after the last checkpoint of the killed run) are dropped so
    the files read as one uninterrupted run. CSV columns are fixed by the first row; JSONL keeps every key.
    """

    def __init__(self, run_dir: str | Path, resume_iter: int | None = None, tensorboard: bool = True,
                 enabled: bool = True) -> None:
        self.enabled = enabled
        self.dir = Path(run_dir)
        self.jsonl = self.dir / "metrics.jsonl"
        self.csv = self.dir / "metrics.csv"
        self._columns: list[str] | None = None
        self._tb = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        rows = []
        if resume_iter is not None and self.jsonl.exists():
            for line in self.jsonl.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by the kill
                if row.get("iteration", 0) <= resume_iter:
                    rows.append(row)
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
        if self.csv.exists():
            self.csv.unlink()
        for r in rows:
            self._write_csv(r)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=resume_iter)
            except Exception:  # tensorboard not installed: JSONL/CSV only
                self._tb = None

    def _write_csv(self, row: dict) -> None:
        new = self._columns is None
        if new:
            self._columns = list(row)
        with open(self.csv, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def log(self, iteration: int, values: dict, prefix: str = "") -> None:
        if not self.enabled:
            return
        row = {"iteration": int(iteration), "time": round(time.time(), 3)}
        row.update({f"{prefix}{k}": v for k, v in values.items()})
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if not prefix:
            self._write_csv(row)
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(f"{prefix}{k}", v, iteration)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Iteration progress with loss, throughput (sequences/s) and ETA: a tqdm bar on ``stream`` when it is a
    terminal, otherwise (log files) one INFO log line every ``every`` iterations."""

    def __init__(self, total: int, start: int = 0, desc: str = "train", enabled: bool = True,
                 every: int = 10, stream=None) -> None:
        self.total, self.start, self.desc = total, start, desc
        self.enabled, self.every = enabled, max(1, every)
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.samples = 0
        self._bar = progress_bar(total, enabled=enabled, stream=self.stream, initial=start, desc=desc)

    def update(self, iteration: int, samples: int, loss: float) -> dict:
        """Record that ``iteration`` (1-based count of done iterations) finished with ``samples`` sequences."""
        self.samples += samples
        elapsed = time.perf_counter() - self.t0
        done = iteration - self.start
        rate = self.samples / elapsed if elapsed > 0 else float("nan")
        eta = elapsed / done * (self.total - iteration) if done > 0 else float("nan")
        stats = {"seq_per_s": rate, "eta_s": eta}
        if not self.enabled:
            return stats
        if not self._bar.disable:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4f}", seq_s=f"{rate:.1f}")
        elif iteration % self.every == 0 or iteration == self.total:
            log.info("[%s] it %d/%d loss %.4f | %.1f seq/s | elapsed %s | eta %s", self.desc, iteration, self.total,
                     loss, rate, _fmt_time(elapsed), _fmt_time(eta))
        return stats

    def close(self) -> None:
        self._bar.close()
