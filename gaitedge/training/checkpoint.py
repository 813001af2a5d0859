"""Atomic, resumable checkpoints.

A checkpoint holds the model's state dict (OpenGait parameter names, as the models define them), the optimiser,
scheduler and grad-scaler states, every RNG state (python, numpy, torch, CUDA) and the iteration, so a killed run
resumes bit-exactly. Files are written to a temporary name in the same folder and moved into place with
``os.replace``, so a kill mid-write never leaves a truncated checkpoint behind (only a ``.NAME.pt.tmp-PID`` file,
which :func:`remove_stale_temp_files` clears once its writer is gone). Everything stored is loadable with
``torch.load(weights_only=True)``; an unreadable file raises :class:`CheckpointError` naming it.

Checkpoints are ordered by the iteration in their name (``-<iteration>.pt``), never by the name as a string:
``GaitGL-100000.pt`` is newer than ``GaitGL-99998.pt``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitedge._safe_load import (CheckpointError, CheckpointMismatchError, check_finite_tensors, load_weights_file,
                                 mismatch_error, tensor_state_dict)

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "list_checkpoints", "load_latest_checkpoint",
           "remove_stale_temp_files", "capture_rng_state", "restore_rng_state", "unwrap_model", "atomic_write_bytes",
           "load_model_weights", "CheckpointError", "check_training_state", "restore_training_state"]

logger = logging.getLogger(__name__)

_CKPT_RE = re.compile(r"-(\d+)\.pt$")
_TMP_RE = re.compile(r"^\..+\.pt\.tmp-(\d+)$")
# a temp file younger than this is left alone even when its PID is not running here: the writer may be a process
# this host cannot see (another container or machine sharing the folder), and it touches the file as it writes
TEMP_FILE_GRACE_S = 600.0


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP / ``torch.compile`` wrappers (its state-dict names carry no ``module.`` prefix)."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def capture_rng_state() -> dict:
    """Every RNG the training loop draws from, in a ``weights_only``-loadable form."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {"kind": np_state[0], "key": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def atomic_write_bytes(path: str | os.PathLike, write_fn) -> None:
    """Call ``write_fn(tmp_path)`` then atomically move the temp file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the PID lets remove_stale_temp_files tell a dead writer's leftover from a file still being written
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: str | os.PathLike, *, model: torch.nn.Module, iteration: int,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    scaler: Any = None, extra: dict | None = None) -> Path:
    """Write a complete training state to ``path`` atomically and return the path."""
    state = {
        "model": unwrap_model(model).state_dict(),
        "iteration": int(iteration),
        "rng": capture_rng_state(),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if extra:
        state["extra"] = extra
    atomic_write_bytes(path, lambda tmp: torch.save(state, tmp))
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: it cannot run code).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: (a ``ValueError``) the file is unreadable, truncated, carries code, or is not a training
            checkpoint (a dict with ``model`` and ``iteration``).
    """
    state = load_weights_file(path, map_location=map_location)
    if not isinstance(state, dict) or not isinstance(state.get("model"), Mapping) \
            or not isinstance(state.get("iteration"), int):
        found = f"a dict with keys {sorted(map(str, state))[:8]}" if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a training checkpoint (expected a dict with 'model' and 'iteration', "
                              f"found {found})", path)
    return state


def _check_rng(rng: Any, path: Path) -> None:
    """Each stored RNG state is tried on a private generator of its kind, so no global state changes here."""
    if not isinstance(rng, Mapping):
        raise CheckpointError(f"{path}: field 'rng' must be a dict of RNG states, found {type(rng).__name__}", path)
    missing = sorted({"python", "numpy", "torch"} - set(rng))
    if missing:
        raise CheckpointError(f"{path}: field 'rng' lacks {missing}", path)
    field = "rng"
    try:
        field = "rng.python"
        py = rng["python"]
        state = py.get("state")
        if not (isinstance(state, torch.Tensor) and state.dtype == torch.int64 and state.dim() == 1):
            raise TypeError("'state' must be a 1-D int64 tensor")
        random.Random().setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
        field = "rng.numpy"
        n = rng["numpy"]
        if not (isinstance(n.get("key"), torch.Tensor) and n["key"].dtype == torch.int64 and n["key"].dim() == 1):
            raise TypeError("'key' must be a 1-D int64 tensor")
        key = n["key"].numpy()
        if key.size and (key.min() < 0 or key.max() >= 2**32):
            raise ValueError("'key' values must fit in 32 bits")
        if any(type(n.get(k)) is not int for k in ("pos", "has_gauss")) \
                or not isinstance(n.get("cached_gaussian"), float):
            raise TypeError("'pos' and 'has_gauss' must be integers and 'cached_gaussian' a float")
        np.random.RandomState().set_state((n["kind"], key.astype(np.uint32), n["pos"], n["has_gauss"],
                                           n["cached_gaussian"]))
        field = "rng.torch"
        if not (isinstance(rng["torch"], torch.Tensor) and rng["torch"].dtype == torch.uint8):
            raise TypeError(f"must be a uint8 tensor, found {type(rng['torch']).__name__}")
        torch.Generator().set_state(rng["torch"])
        if "cuda" in rng:
            field = "rng.cuda"
            if not isinstance(rng["cuda"], (list, tuple)) or not all(
                    isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in rng["cuda"]):
                raise TypeError("must be a list of uint8 tensors")
    except CheckpointError:
        raise
    except Exception as e:  # wrong types, lengths or values: each generator says so in its own words
        raise CheckpointError(f"{path}: field '{field}' is not a valid RNG state ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else 'bad value'})", path) from None


def check_training_state(state: Mapping, path: str | os.PathLike) -> None:
    """Validate the fields of a loaded training checkpoint before any of them is used: the iteration (a
    non-negative integer, not a bool), the model (a state dict of finite tensors) and every RNG state.

    Raises:
        CheckpointError: naming ``path`` and the field.
    """
    path = Path(path)
    it = state.get("iteration")
    if type(it) is not int or it < 0:
        raise CheckpointError(f"{path}: field 'iteration' must be a non-negative integer, found {it!r}", path)
    tensor_state_dict(state.get("model"), f"{path} (field 'model')", path)
    if "rng" in state:
        _check_rng(state["rng"], path)


def _check_optimizer_state(saved: Any, optimizer: torch.optim.Optimizer, path: Path) -> None:
    """The saved optimiser state must be the same kind of optimiser over the same parameter groups: torch's own
    ``load_state_dict`` checks only group sizes, and an Adam state loaded into SGD fails at the first step."""
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), Mapping):
        raise CheckpointError(f"{path}: field 'optimizer' must be a dict with 'state' and 'param_groups'", path)
    live = optimizer.param_groups
    groups = saved["param_groups"]
    if len(groups) != len(live):
        raise CheckpointError(f"{path}: field 'optimizer' has {len(groups)} parameter group(s), this run's "
                              f"{type(optimizer).__name__} has {len(live)}", path)
    params: dict[int, torch.Tensor] = {}
    for i, (g, lg) in enumerate(zip(groups, live)):
        if not isinstance(g, Mapping) or not isinstance(g.get("params"), list) \
                or not all(type(p) is int for p in g["params"]):
            raise CheckpointError(f"{path}: field 'optimizer.param_groups[{i}]' must be a dict with a 'params' "
                                  "list of integers", path)
        if len(g["params"]) != len(lg["params"]):
            raise CheckpointError(f"{path}: field 'optimizer.param_groups[{i}]' holds {len(g['params'])} "
                                  f"parameters, this run's group has {len(lg['params'])}", path)
        missing = sorted(k for k in _identifying(lg) if k not in g)
        if missing:
            raise CheckpointError(f"{path}: field 'optimizer.param_groups[{i}]' lacks {missing}: it was written by "
                                  f"another kind of optimiser than this run's {type(optimizer).__name__}", path)
        params.update(zip(g["params"], lg["params"]))
    for pid, st in saved["state"].items():
        if pid not in params or not isinstance(st, Mapping):
            raise CheckpointError(f"{path}: field 'optimizer.state' has an entry {pid!r} for no parameter", path)
        for k, v in st.items():
            if torch.is_tensor(v) and v.numel() > 1 and v.shape != params[pid].shape:
                raise CheckpointError(f"{path}: field 'optimizer.state[{pid}].{k}' has shape {tuple(v.shape)}, its "
                                      f"parameter {tuple(params[pid].shape)}", path)
        check_finite_tensors(st, path=path, where=f"{path}: field 'optimizer.state[{pid}]'", field="entry")


def _identifying(settings: Mapping) -> list[str]:
    """The keys of an optimiser group or a scheduler/scaler state that say what kind of object wrote it: numeric
    and list settings (lr, betas, momentum, milestones, ...). Flags (bool or None: foreach, fused, maximize, ...),
    strings and private ``_`` keys are left out: torch adds such keys between versions and fills them in itself
    when an older state lacks them."""
    return [k for k, v in settings.items() if k != "params" and not k.startswith("_") and v is not None
            and not isinstance(v, (bool, str))]


def _check_plain_state(saved: Any, live: Mapping, what: str, path: Path) -> None:
    """A scheduler's or scaler's saved state must carry the live object's identifying keys, and every key both
    have must hold a value of the same type."""
    if not isinstance(saved, Mapping):
        raise CheckpointError(f"{path}: field '{what}' must be a dict, found {type(saved).__name__}", path)
    missing = sorted(k for k in _identifying(live) if k not in saved)
    if missing:
        raise CheckpointError(f"{path}: field '{what}' lacks {missing}: it was written by another kind of {what}",
                              path)
    for k, v in live.items():
        if k in saved and v is not None and saved[k] is not None and type(saved[k]) is not type(v) \
                and not (isinstance(v, float) and type(saved[k]) is int):
            raise CheckpointError(f"{path}: field '{what}.{k}' is {type(saved[k]).__name__}, this run's {what} "
                                  f"keeps a {type(v).__name__}", path)


def restore_training_state(state: Mapping, path: str | os.PathLike, model: torch.nn.Module,
                           optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                           scaler: Any = None) -> int:
    """Check every field of a loaded checkpoint (:func:`check_training_state`, and the optimiser, scheduler and
    scaler states against the live objects), then load them; returns the iteration. Nothing is loaded unless
    every check passes.

    Raises:
        CheckpointError: a field is malformed, naming ``path`` and the field.
        CheckpointMismatchError: the weights do not fit ``model``.
    """
    path = Path(path)
    check_training_state(state, path)
    if optimizer is not None and "optimizer" in state:
        _check_optimizer_state(state["optimizer"], optimizer, path)
    if scheduler is not None and "scheduler" in state:
        _check_plain_state(state["scheduler"], scheduler.state_dict(), "scheduler", path)
    if scaler is not None and "scaler" in state:
        _check_plain_state(state["scaler"], scaler.state_dict(), "scaler", path)
    try:
        unwrap_model(model).load_state_dict(state["model"])
    except RuntimeError as e:
        raise mismatch_error(f"{path} does not fit this run's model (resume it with the config it was trained "
                             "with, or choose another --out)", e, path) from None
    for field, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is not None and field in state:
            try:
                obj.load_state_dict(state[field])
            except (ValueError, TypeError, KeyError, RuntimeError) as e:
                raise CheckpointError(f"{path}: field '{field}' does not load ({type(e).__name__}: "
                                      f"{str(e).splitlines()[0][:160] if str(e) else ''})", path) from None
    return state["iteration"]


def list_checkpoints(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """The ``<name>-<iteration>.pt`` files in ``folder`` (any name when None), oldest iteration first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(name)}-(\d+)\.pt$") if name is not None else _CKPT_RE
    found = []
    for p in folder.glob("*.pt"):
        m = pattern.search(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p.name, p))
    return [p for _, _, p in sorted(found)]


def latest_checkpoint(folder: str | os.PathLike, name: str | None = None) -> Path | None:
    """The checkpoint with the highest ``-<iteration>.pt`` suffix in ``folder``, or None."""
    found = list_checkpoints(folder, name)
    return found[-1] if found else None


def load_latest_checkpoint(folder: str | os.PathLike, map_location: str | torch.device = "cpu",
                           name: str | None = None) -> tuple[Path, dict] | None:
    """The newest checkpoint in ``folder`` that loads, as ``(path, state)``; None when the folder holds none.

    Newer files that fail to load (truncated, corrupt) are skipped with a warning and left on disk.

    Raises:
        CheckpointError: there are checkpoints but none of them loads (the message lists why, file by file).
    """
    failed: list[CheckpointError] = []
    for path in reversed(list_checkpoints(folder, name)):
        try:
            state = load_checkpoint(path, map_location=map_location)
        except FileNotFoundError:
            continue  # pruned by another process since it was listed
        except CheckpointError as e:
            failed.append(e)
            continue
        for e in failed:
            logger.warning("%s; using the older %s instead (the unreadable file is kept)", e, path.name)
        return path, state
    if failed:
        raise CheckpointError(f"no checkpoint in {folder} can be loaded (all are kept): "
                              + "; ".join(str(e) for e in failed), failed[0].path)
    return None


def _pid_alive(pid: int) -> bool:
    if os.name != "posix" or pid <= 0:
        return True  # no safe liveness probe here: never treat the writer as gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. EPERM: the process exists but belongs to someone else
    return True


def remove_stale_temp_files(folder: str | os.PathLike, grace_s: float = TEMP_FILE_GRACE_S) -> list[Path]:
    """Delete ``.NAME.pt.tmp-PID`` files left in ``folder`` by writers killed mid-write; returns what was deleted.

    A file is removed only when no process with its PID is running and it was last modified more than ``grace_s``
    seconds ago, so a file another process is still writing is never touched. Checkpoints themselves never are.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for p in folder.iterdir():
        m = _TMP_RE.match(p.name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        try:
            if not p.is_file() or now - p.stat().st_mtime < grace_s:
                continue
            p.unlink()
        except FileNotFoundError:
            continue  # removed meanwhile (its writer finished, or another cleaner)
        removed.append(p)
        logger.info("removed %s, a partial checkpoint left by process %s, which is gone", p, m.group(1))
    return removed


def load_model_weights(model: torch.nn.Module, path: str | os.PathLike, strict: bool = True,
                       prefix: str = "") -> tuple[list[str], list[str]]:
    """Load a checkpoint's ``model`` entry (or a bare state dict) into ``model``.

    Args:
        prefix: prepended to every key of the file (e.g. load a U-Net checkpoint into ``GaitEdge.segmenter``).
        strict: refuse missing or unexpected keys (listed in the error) when True.

    Returns:
        (missing_keys, unexpected_keys)

    Raises:
        FileNotFoundError / CheckpointError: missing, unreadable, or not holding a tensor state dict.
        CheckpointMismatchError (a ``RuntimeError`` and a ``CheckpointError``): ``strict`` and the keys differ, or a
            shape differs.
    """
    sd = tensor_state_dict(load_weights_file(path), str(path), path)
    sd = {prefix + k: v for k, v in sd.items()}
    try:
        result = unwrap_model(model).load_state_dict(sd, strict=False)
    except RuntimeError as e:  # shapes differ
        raise mismatch_error(f"weights in {path} do not fit the model", e, path) from None
    if strict and (result.missing_keys or result.unexpected_keys):
        raise CheckpointMismatchError(
            f"weights in {path} do not match the model: missing {result.missing_keys[:10]}"
            f"{'...' if len(result.missing_keys) > 10 else ''}, unexpected "
            f"{result.unexpected_keys[:10]}{'...' if len(result.unexpected_keys) > 10 else ''}", path)
    return list(result.missing_keys), list(result.unexpected_keys)
