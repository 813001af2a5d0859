"""What a result was measured on: machine, library and build facts, and the machine's measured copy bandwidth."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Optional, Sequence

import torch

from benchmarks.harness.timing import timer
from gaitedge._system import cpu_model

__all__ = ["metadata", "copy_bandwidth"]

_REPO = Path(__file__).resolve().parents[2]


def copy_bandwidth(device: torch.device, nbytes: Optional[int] = None, budget_s: float = 1.0) -> dict:
    """Measured device copy bandwidth: ``dst.copy_(src)`` of a large buffer, counting read + write bytes."""
    if nbytes is None:
        nbytes = (1 << 30) if device.type == "cuda" else (64 << 20)
    n = nbytes // 4
    src = torch.ones(n, dtype=torch.float32, device=device)  # [n]
    dst = torch.empty_like(src)
    median = timer(lambda: dst.copy_(src), description="copy").blocked_autorange(min_run_time=budget_s).median
    moved = 2 * n * 4
    return {"bytes_moved": moved, "time_s": median, "gbps": moved / median / 1e9,
            "threads": torch.get_num_threads() if device.type == "cpu" else None}


def git_commit() -> Optional[str]:
    """HEAD of the checkout, ``+dirty-ops`` when the kernels or the op wrappers have uncommitted changes."""
    try:
        sha = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain", "--", "csrc", "gaitedge/ops"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty-ops" if dirty else "")) if sha else None


def _version(module: str) -> Optional[str]:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - absence of an optional baseline library is normal
        return None


def metadata(devices: Sequence[torch.device]) -> dict:
    """Machine, library and build facts recorded with every result file."""
    meta = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads_default": torch.get_num_threads(),
        "git_commit": git_commit(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "kornia": _version("kornia"),
        "torchvision": _version("torchvision"),
        "gaitedge": _version("gaitedge"),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "devices": [],
    }
    try:
        from gaitedge._extension import build_info, cpu_vector_routes

        meta["gaitedge_build"] = build_info()
        meta["gaitedge_cpu_vector_routes"] = list(cpu_vector_routes())
    except ImportError:
        meta["gaitedge_build"] = None
    for dev in devices:
        if dev.type == "cuda":
            p = torch.cuda.get_device_properties(dev)
            meta["devices"].append({"device": str(dev), "name": p.name, "capability": f"{p.major}.{p.minor}",
                                    "memory_bytes": p.total_memory, "sms": p.multi_processor_count})
        else:
            meta["devices"].append({"device": "cpu", "name": meta["cpu_model"]})
    return meta
