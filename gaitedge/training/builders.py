"""Config sections → typed objects: model (plus phase-1 initialisation), losses, optimiser, scheduler.

This is the edge where dicts become keyword arguments; nothing below it reads a config dict.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from gaitedge.models import create_model, list_models, model_factory
from gaitedge.training.checkpoint import load_model_weights
from gaitedge.training.config import ConfigError, OptimizerConfig, SchedulerConfig, section
from gaitedge.training.losses import LossAggregator

__all__ = ["build_model", "build_losses", "build_optimizer", "build_scheduler", "initialise_model"]


def _takes_num_classes(name: str) -> bool:
    """Whether the registered model has a softmax head to size (GaitSet and GaitPart train on triplets only)."""
    factory = model_factory(name)
    cls = typing.get_type_hints(factory).get("return")
    target = cls if isinstance(cls, type) else factory
    params = inspect.signature(target).parameters
    return "num_classes" in params


def build_model(model_cfg: Mapping, num_classes: int | None = None) -> nn.Module:
    """``{"name": registry name, "kwargs": {...}, "init": [...]}`` → model (initialised from ``init``).

    ``num_classes`` (the number of training ids) fills ``kwargs.num_classes`` when the config leaves it out.
    """
    name = model_cfg.get("name")
    if name not in list_models():
        raise ConfigError(f"model.name {name!r} is not a registered model; available: {', '.join(list_models())}")
    kwargs = dict(model_cfg.get("kwargs") or {})
    for k, v in list(kwargs.items()):
        if isinstance(v, list) and k in ("channels", "seg_channels", "out_size"):
            kwargs[k] = tuple(v)
    if num_classes is not None and "num_classes" not in kwargs and _takes_num_classes(name):
        kwargs["num_classes"] = int(num_classes)
    try:
        model = create_model(name, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model.kwargs for {name!r}: {e}") from None
    initialise_model(model, model_cfg.get("init") or [])
    return model


def initialise_model(model: nn.Module, init: list) -> None:
    """Load phase-1 weights: ``init`` is a list of ``{"path": ..., "prefix": "", "strict": False}``.

    Partial files (a U-Net checkpoint into GaitEdge's ``Backbone.*``, a GaitGL checkpoint into the rest) load
    non-strictly; afterwards every parameter of the model must have come from one of the files, unless
    ``allow_missing`` lists name prefixes left at their fresh initialisation (e.g. a softmax head).
    """
    if not init:
        return
    loaded: set[str] = set()
    allow: list[str] = []
    keys = set(model.state_dict())
    for i, entry in enumerate(init):
        if isinstance(entry, str):
            entry = {"path": entry}
        path = entry.get("path")
        if not path:
            raise ConfigError(f"model.init[{i}] needs a 'path'")
        if not Path(path).is_file():
            raise FileNotFoundError(f"model.init[{i}].path: checkpoint not found: {path}")
        missing, unexpected = load_model_weights(model, path, strict=bool(entry.get("strict", False)),
                                                 prefix=entry.get("prefix", ""))
        if unexpected:
            raise ConfigError(f"model.init[{i}] ({path}) has keys the model lacks: {unexpected[:8]}")
        loaded |= keys - set(missing)
        allow += list(entry.get("allow_missing", []))
    left = sorted(k for k in keys - loaded if not any(k.startswith(a) for a in allow))
    if left:
        raise ConfigError(f"model.init: these weights were in none of the init checkpoints: {left[:8]}"
                          f"{'...' if len(left) > 8 else ''} (list prefixes in allow_missing to accept that)")


def build_losses(loss_cfg: Mapping | None) -> LossAggregator:
    if not loss_cfg:
        raise ConfigError("the 'loss' section is empty: name at least one loss (triplet, softmax, bce)")
    try:
        return LossAggregator.from_config(loss_cfg)
    except ValueError as e:
        raise ConfigError(f"loss: {e}") from None


def build_optimizer(model: nn.Module, opt_cfg: Mapping | None) -> torch.optim.Optimizer:
    """Adam/AdamW/SGD over the trainable parameters; ``groups`` give name-matched parameters their own lr.

    A group ``{"match": "Backbone.", "lr": 1e-5}`` takes every trainable parameter whose name contains
    ``Backbone.`` (GaitEdge's U-Net decoder in phase 2); the rest use the section's ``lr``. Frozen parameters
    (``requires_grad=False``, the U-Net encoder) are left out.
    """
    cfg = section(OptimizerConfig, opt_cfg, "optimizer")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ConfigError("the model has no trainable parameters")
    groups: list[dict] = [{"params": [], "lr": cfg.lr, "name": "default"}]
    for g in cfg.groups:
        groups.append({"params": [], "lr": float(g.get("lr", cfg.lr)), "name": g["match"]})
    for n, p in named:
        for gi, g in enumerate(cfg.groups, start=1):
            if g["match"] in n:
                groups[gi]["params"].append(p)
                break
        else:
            groups[0]["params"].append(p)
    for g in cfg.groups:
        if not any(x["name"] == g["match"] and x["params"] for x in groups):
            raise ConfigError(f"optimizer.groups: no trainable parameter name contains {g['match']!r}")
    groups = [g for g in groups if g["params"]]
    if cfg.type == "SGD":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.type == "Adam" else torch.optim.AdamW
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, sched_cfg: Mapping | None):
    cfg = section(SchedulerConfig, sched_cfg, "scheduler")
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.milestones), gamma=cfg.gamma)
