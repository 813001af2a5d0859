"""The training loop: AMP, gradient scaling, channels_last, DDP, atomic resumable checkpoints, metrics, progress.

The trainer is independent of what it trains: it takes a model obeying the output contract (``training_feat``), a
loss aggregator, an optimiser, a scheduler and a function that opens the training stream at a given iteration.
:mod:`gaitedge.training.builders` assembles these from a config.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch
import torch.nn as nn

from gaitedge import distributed as du
from gaitedge.models._base import to_channels_last_
from gaitedge.training.checkpoint import latest_checkpoint, list_checkpoints, load_latest_checkpoint, \
    remove_stale_temp_files, restore_rng_state, restore_training_state, save_checkpoint, unwrap_model
from gaitedge.training.config import TrainerConfig
from gaitedge.training.logger import MetricLogger, Progress

__all__ = ["Trainer", "resolve_amp", "RunDirError"]

log = logging.getLogger(__name__)


class RunDirError(FileExistsError):
    """The run folder already holds checkpoints and neither resume nor force was asked for."""


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Map the ``trainer.amp`` setting to an autocast dtype (None = full precision).

    ``"auto"``: fp16 on CUDA, off on CPU; ``"on"``: fp16 on CUDA, bf16 on CPU; ``"bf16"`` / ``"fp16"``: forced.
    """
    if amp == "off":
        return None
    if amp == "auto":
        return torch.float16 if device.type == "cuda" else None
    if amp == "on":
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError("trainer.amp=fp16 needs a CUDA device; use bf16 (or on) on CPU")
        return torch.float16
    raise ValueError(f"trainer.amp must be auto|on|off|bf16|fp16, got {amp!r}")


def _batch_size(batch: Mapping) -> int:
    labels = batch.get("labels")
    if torch.is_tensor(labels):
        return int(labels.shape[0])
    seqL = batch.get("seqL")
    if torch.is_tensor(seqL):
        return int(seqL.numel())
    for v in batch.values():
        if torch.is_tensor(v):
            return int(v.shape[0])
    return 0


class Trainer:
    """Runs ``cfg.total_iter`` iterations, resuming from the run folder's latest checkpoint when asked.

    Args:
        model: module whose ``forward(batch)`` returns the output contract.
        loss_fn: ``LossAggregator``-like: ``loss_fn(training_feat) -> (loss, info)``.
        optimizer, scheduler: built over ``model``'s trainable parameters; the scheduler steps every iteration.
        stream_fn: ``stream_fn(start_iter) -> iterator of (batch, meta)`` for this rank.
        run_dir: output folder (``checkpoints/``, ``metrics.jsonl``, ``metrics.csv``, ``eval-*.json``).
        cfg: the ``trainer`` section.
        device: this rank's device.
        eval_fn: optional ``eval_fn(model, iteration) -> dict`` called every ``cfg.eval_every`` iterations and
            at the end (on every rank; evaluators gather across ranks).
        resume: continue from the latest checkpoint in ``run_dir/checkpoints`` (fresh start if there is none).
        force: allow starting fresh in a folder that already holds checkpoints (they get overwritten).
        name: checkpoint file prefix (``<name>-<iteration:05d>.pt``, OpenGait's naming).
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, scheduler,
                 stream_fn: Callable[[int], Iterator], run_dir: str | Path, cfg: TrainerConfig,
                 device: torch.device, eval_fn: Callable | None = None, resume: bool = False, force: bool = False,
                 name: str = "model", progress: bool = True, config_dict: Mapping | None = None,
                 to_device: Callable | None = None) -> None:
        self.cfg, self.device, self.name = cfg, device, name
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.loss_fn, self.optimizer, self.scheduler = loss_fn, optimizer, scheduler
        self.stream_fn, self.eval_fn = stream_fn, eval_fn
        self.to_device = to_device or self._default_to_device
        self.is_main = du.is_main_process()
        self.amp_dtype = resolve_amp(cfg.amp, device)
        use_scaler = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.start_iter = 0
        existing = latest_checkpoint(self.ckpt_dir)
        if existing is not None and not resume and not force:
            raise RunDirError(f"{self.run_dir} already holds checkpoints (latest {existing.name}); pass --resume to "
                              "continue that run or --force to overwrite it, or choose another --out")
        if self.is_main:
            remove_stale_temp_files(self.ckpt_dir)
        model.to(device)
        if cfg.channels_last:
            to_channels_last_(model)
        found = load_latest_checkpoint(self.ckpt_dir, map_location=device) if resume else None
        self.resumed_from = found[0] if found else None
        if found is not None:
            path, state = found
            self.start_iter = restore_training_state(state, path, model, optimizer, scheduler, self.scaler)
            self._rng_state = state.get("rng")
        else:
            self._rng_state = None
        world = du.get_world_size()
        if world > 1:
            synced = cfg.sync_bn and device.type != "cpu"  # torch's SyncBatchNorm has no CPU kernel
            if synced:
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            elif self.is_main and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                # the gathered losses make every other part of the step one process's; BN statistics are not
                log.warning("BatchNorm statistics are per rank%s: %d processes do not take the same step as one "
                            "process on the whole batch", " (trainer.sync_bn needs CUDA)" if cfg.sync_bn else
                            " (trainer.sync_bn is off)", world)
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters)
        self.model = model
        self.logger = MetricLogger(self.run_dir, resume_iter=self.start_iter if resume else None,
                                   enabled=self.is_main)
        self.progress_enabled = progress and self.is_main
        if self.is_main and config_dict is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(
                json.dumps({k: v for k, v in config_dict.items() if not str(k).startswith("_")}, indent=2,
                           default=str))

    def _default_to_device(self, batch: Mapping) -> dict:
        out = {}
        for k, v in batch.items():
            if torch.is_tensor(v):
                # no layout change here: 4-D batch tensors are [n, s, H, W] frame stacks, not images; the
                # models put their own conv inputs in the weights' layout
                v = v.to(self.device, non_blocking=True)
            out[k] = v
        return out

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _save(self, iteration: int) -> Path | None:
        path = None
        if self.is_main:
            path = save_checkpoint(self.ckpt_dir / f"{self.name}-{iteration:05d}.pt", model=self.model,
                                   iteration=iteration, optimizer=self.optimizer, scheduler=self.scheduler,
                                   scaler=self.scaler)
            # files from later iterations (one a resume skipped as unreadable, say) are not this run's to prune
            ours = [p for p in list_checkpoints(self.ckpt_dir, self.name)
                    if p != path and _iteration_of(p) <= iteration]
            for old in ours[:len(ours) - max(0, self.cfg.keep_last - 1)]:
                old.unlink()
            remove_stale_temp_files(self.ckpt_dir)
        du.barrier()
        return path

    def _evaluate(self, iteration: int) -> dict:
        result = self.eval_fn(unwrap_model(self.model), iteration)
        if self.is_main:
            (self.run_dir / f"eval-{iteration:05d}.json").write_text(json.dumps(result, indent=2, default=str))
            flat = {k: v for k, v in _flatten(result).items() if isinstance(v, (int, float))}
            self.logger.log(iteration, flat, prefix="eval/")
        return result

    def step(self, batch: Mapping, iteration: int) -> dict:
        """One optimisation step on ``batch``; returns the logged values."""
        batch = self.to_device(batch)
        with self._autocast():
            out = self.model(batch)
            loss, info = self.loss_fn(out["training_feat"])
        if not torch.isfinite(loss.detach()):
            if self.scaler is None:
                raise FloatingPointError(f"non-finite loss at iteration {iteration}: {info}")
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if self.cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return info

    def fit(self) -> dict:
        """Train to ``cfg.total_iter``; returns ``{"iteration", "checkpoint", "train", "eval"}``."""
        cfg = self.cfg
        stream = self.stream_fn(self.start_iter)
        if self._rng_state is not None:
            restore_rng_state(self._rng_state)  # after opening the stream, which must not touch global RNGs
        self.model.train()
        progress = Progress(cfg.total_iter, self.start_iter, desc=self.name, enabled=self.progress_enabled,
                            every=cfg.log_every or 10)
        info: dict = {}
        last_eval: dict | None = None
        last_ckpt = None
        it = self.start_iter
        window_t0 = time.perf_counter()
        try:
            while it < cfg.total_iter:
                try:
                    batch, _meta = next(stream)
                except StopIteration:
                    raise RuntimeError(f"the training stream ended at iteration {it}; the batch sampler must be "
                                       "infinite") from None
                info = self.step(batch, it)
                it += 1
                stats = progress.update(it, _batch_size(batch), info.get("total", float("nan")))
                if cfg.log_every and (it % cfg.log_every == 0 or it == cfg.total_iter):
                    values = du.all_reduce_mean(dict(info))
                    for g, group in enumerate(self.optimizer.param_groups):
                        values[f"lr/group{g}"] = group["lr"]
                    values.update(stats)
                    values["step_s"] = (time.perf_counter() - window_t0) / max(1, cfg.log_every)
                    window_t0 = time.perf_counter()
                    self.logger.log(it, values)
                if cfg.save_every and it % cfg.save_every == 0 and it != cfg.total_iter:
                    last_ckpt = self._save(it)
                if self.eval_fn is not None and cfg.eval_every and it % cfg.eval_every == 0 \
                        and it != cfg.total_iter:
                    last_eval = self._evaluate(it)
                    self.model.train()
            if self.start_iter < cfg.total_iter or self.resumed_from is None:
                last_ckpt = self._save(cfg.total_iter)
            else:
                last_ckpt = self.resumed_from
            if self.eval_fn is not None:
                last_eval = self._evaluate(cfg.total_iter)
        finally:
            progress.close()
            self.logger.close()
        return {"iteration": it, "checkpoint": str(last_ckpt) if last_ckpt else None,
                "train": {k: v for k, v in info.items()}, "eval": last_eval}


def _iteration_of(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    if isinstance(d, Mapping):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
    elif isinstance(d, (int, float)) and not (isinstance(d, float) and math.isnan(d)):
        out[prefix.rstrip("/")] = d
    return out
