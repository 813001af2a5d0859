"""The result file: ``<stem>.json`` (schema ``gaitedge-bench/1``, the source of truth) and what is rendered from it."""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch

from benchmarks.harness import BenchmarkError
from benchmarks.harness.devices import num_threads
from benchmarks.harness.metadata import copy_bandwidth, metadata
from benchmarks.harness.report import render_markdown, render_plot
from benchmarks.harness.roofline import conv_peak

__all__ = ["SCHEMA", "RESULTS_DIR", "Results", "load_results", "render_files"]

SCHEMA = "gaitedge-bench/1"
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


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
            "conv_peak": {},
            "rows": [],
            "targets": [],
        }

    @staticmethod
    def _machine_key(device: torch.device, threads: Optional[int]) -> str:
        """How a per-machine measurement is filed: the CUDA device, or the CPU at a thread count."""
        return str(device) if device.type == "cuda" else f"cpu/{threads or torch.get_num_threads()}t"

    def copy_gbps(self, device: torch.device, threads: Optional[int] = None) -> float:
        key = self._machine_key(device, threads)
        if key not in self.data["copy_bandwidth"]:
            with num_threads(threads if device.type == "cpu" else None):
                self.data["copy_bandwidth"][key] = copy_bandwidth(device)
        return self.data["copy_bandwidth"][key]["gbps"]

    def conv_peak(self, device: torch.device, threads: Optional[int] = None) -> dict:
        """This machine's best 3x3 convolution rate (``roofline.conv_peak``), measured once per device and thread
        count and recorded with the results."""
        key = self._machine_key(device, threads)
        if key not in self.data["conv_peak"]:
            with num_threads(threads if device.type == "cpu" else None):
                self.data["conv_peak"][key] = conv_peak(device)
        return self.data["conv_peak"][key]

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
        json_path = out_dir / f"{stem}.json"
        json_path.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        # tables and plots come from the file, not from memory
        return dict(json=json_path, **render_files(json_path, json.loads(json_path.read_text())))


def load_results(path: Path) -> dict:
    """Reads a result file and checks its schema tag."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BenchmarkError(f"cannot read result file {path}: {e}") from None
    if data.get("schema") != SCHEMA:
        raise BenchmarkError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
    return data


def render_files(json_path: Path, data: Optional[dict] = None) -> Dict[str, Path]:
    """Writes ``.md`` (and ``.png`` when matplotlib is present) next to a result file; returns their paths."""
    json_path = Path(json_path)
    data = load_results(json_path) if data is None else data
    paths = {"md": json_path.with_suffix(".md")}
    paths["md"].write_text(render_markdown(data))
    png = render_plot(data, json_path.with_suffix(".png"))
    if png is not None:
        paths["png"] = png
    return paths
