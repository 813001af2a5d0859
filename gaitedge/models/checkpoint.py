"""OpenGait checkpoint interchange.

OpenGait saves ``{"model": state_dict, "optimizer": ..., "scheduler": ..., "iteration": int}``. Our models use
OpenGait's module names, so the ``model`` entry loads directly:

- ``Segmentation-*.pt`` (keys ``Backbone.*``) -> ``Segmentation``, ``UNet`` (prefix stripped) or the U-Net
  part of ``GaitEdge``;
- ``GaitGL-*.pt`` -> ``GaitGL`` or the recogniser part of ``GaitEdge``;
- ``GaitEdge-*.pt`` -> ``GaitEdge`` (or its U-Net / recogniser part into ``UNet`` / ``GaitGL``).

A bare ``UNet`` is saved with the ``Backbone.`` prefix, as OpenGait's ``Segmentation`` holds it.

GaitEdge's frozen segmenter (``Frozen.Backbone.*``, ``mask_source="frozen"``) has no counterpart in OpenGait, whose
GaitEdge takes its masks from the ground truth: :func:`save_opengait_checkpoint` leaves it out, and a
``Segmentation-*.pt`` loaded into such a model fills both the trainable U-Net and the frozen copy (phase-2
initialisation). A ``GaitEdge-*.pt`` from OpenGait carries no frozen segmenter, so loading it strictly into a
frozen-mask model fails and names the missing ``Frozen.*`` keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

import torch
from torch import Tensor, nn

from gaitedge._safe_load import CheckpointError, CheckpointMismatchError, load_weights_file, tensor_state_dict

from .unet import UNet

__all__ = ["LoadResult", "load_opengait_checkpoint", "save_opengait_checkpoint", "read_opengait_state_dict",
           "CheckpointError", "CheckpointMismatchError"]

_BACKBONE = "Backbone."
_FROZEN = "Frozen."  # GaitEdge's frozen segmenter: Frozen.Backbone.*


@dataclass
class LoadResult:
    """What ``load_opengait_checkpoint`` did.

    Attributes:
        loaded: keys copied into the model.
        missing: keys of the target (part of the) model that the checkpoint lacked.
        unexpected: checkpoint keys with no place in the model.
        mismatched: ``key: checkpoint shape vs model shape`` for keys whose shapes differ (not loaded).
        target: which part was loaded: ``"all"``, ``"Backbone"`` or ``"recogniser"``.
    """

    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    target: str = "all"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 12) -> str:
        def fmt(name: str, keys: List[str]) -> str:
            shown = ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")
            return f"  {name} ({len(keys)}): {shown}"

        lines = [f"loaded {len(self.loaded)} tensors into {self.target}"]
        groups = (("missing", self.missing), ("unexpected", self.unexpected), ("shape mismatch", self.mismatched))
        for name, keys in groups:
            if keys:
                lines.append(fmt(name, keys))
        return "\n".join(lines)


def read_opengait_state_dict(path_or_state_dict: Union[str, os.PathLike, Mapping[str, Any]]) -> Dict[str, Tensor]:
    """The tensor state dict inside an OpenGait checkpoint file or dict (its ``"model"`` entry if present).

    Files are read with ``torch.load(weights_only=True)`` onto the CPU. A ``module.`` prefix (DDP) is removed.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: (a ``ValueError``) unreadable, truncated or code-carrying file, or no tensor state dict.
    """
    path = None
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        path = os.fspath(path_or_state_dict)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        obj = load_weights_file(path)
        where = path
    elif isinstance(path_or_state_dict, Mapping):
        obj, where = path_or_state_dict, "the given state dict"
    else:
        raise TypeError(f"path_or_state_dict must be a path or a mapping, got {type(path_or_state_dict).__name__}")
    state = dict(tensor_state_dict(obj, where, path))
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _adapt(model: nn.Module, state: Dict[str, Tensor]):
    """Map checkpoint keys to the model's naming and pick which model keys are expected."""
    own = model.state_dict()
    own_has_backbone = any(k.startswith(_BACKBONE) for k in own)
    ck_backbone = {k for k in state if k.startswith(_BACKBONE)}
    if not own_has_backbone and ck_backbone:
        # a bare UNet (its keys equal the checkpoint's Backbone.* minus the prefix), or a GaitGL fed a GaitEdge file
        stripped = {k[len(_BACKBONE) :]: v for k, v in state.items() if k.startswith(_BACKBONE)}
        if any(k in own for k in stripped) and all(not k.startswith(_BACKBONE) and k in own for k in stripped):
            return stripped, set(own), "all", [k for k in state if not k.startswith(_BACKBONE)]
        return state, set(own), "all", []
    if own_has_backbone and any(not k.startswith((_BACKBONE, _FROZEN)) for k in own):
        # GaitEdge: Segmentation-*.pt fills the U-Net (and the frozen copy), GaitGL-*.pt the recogniser,
        # GaitEdge-*.pt both
        ck_rest = set(state) - ck_backbone
        if ck_backbone and not ck_rest:
            if any(k.startswith(_FROZEN) for k in own):
                state = dict(state, **{_FROZEN + k: v for k, v in state.items()})
            return state, {k for k in own if k.startswith((_BACKBONE, _FROZEN))}, "Backbone", []
        if ck_rest and not ck_backbone and not any(k.startswith(_FROZEN) for k in ck_rest):
            return state, {k for k in own if not k.startswith((_BACKBONE, _FROZEN))}, "recogniser", []
    return state, set(own), "all", []


def load_opengait_checkpoint(
    model: nn.Module, path_or_state_dict: Union[str, os.PathLike, Mapping[str, Any]], strict: bool = True
) -> LoadResult:
    """Load an OpenGait checkpoint (``GaitGL-*.pt``, ``Segmentation-*.pt``, ``GaitEdge-*.pt``) into ``model``.

    Args:
        model: a model from ``gaitedge.models`` (``UNet``, ``Segmentation``, ``GaitGL``, ``GaitEdge``, ...).
        path_or_state_dict: checkpoint path, a checkpoint dict with a ``"model"`` entry, or a state dict.
        strict: raise if any key of the targeted part is missing, any checkpoint key is unexpected or any
            shape differs. A U-Net-only or recogniser-only checkpoint given to ``GaitEdge`` targets that part,
            so phase-2 initialisation is two strict calls (OpenGait does it with ``strict=False``).

    Returns:
        ``LoadResult`` listing loaded, missing, unexpected and mismatched keys.

    Raises:
        FileNotFoundError / CheckpointError (a ``ValueError``): missing, unreadable or non-state-dict input.
        CheckpointMismatchError (a ``RuntimeError`` and a ``CheckpointError``): ``strict`` and the keys or shapes do
            not match exactly (the message lists them).
    """
    state = read_opengait_state_dict(path_or_state_dict)
    state, expected, target, dropped = _adapt(model, state)
    own = model.state_dict()
    res = LoadResult(target=target)
    res.unexpected = sorted(set(dropped) | {k for k in state if k not in own})
    res.missing = sorted(k for k in expected if k not in state)
    usable = {}
    for k, v in state.items():
        if k not in own:
            continue
        if tuple(v.shape) != tuple(own[k].shape):
            res.mismatched.append(f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}")
            continue
        usable[k] = v
    if strict and not res.ok:
        where = f"{path_or_state_dict} " if isinstance(path_or_state_dict, (str, os.PathLike)) else ""
        details = "; ".join(line.strip() for line in res.describe().splitlines() if line.strip())
        if any(k.startswith(_FROZEN) for k in res.missing):
            details += ("; the checkpoint has no frozen segmenter (Frozen.*): OpenGait's GaitEdge takes its masks "
                        "from the ground truth, so build the model with mask_source='silhouette', or load the phase-1 "
                        "Segmentation checkpoint into it")
        raise CheckpointMismatchError(f"checkpoint {where}does not match {type(model).__name__} ({target}): {details}",
                                      path_or_state_dict if where else None)
    model.load_state_dict(usable, strict=False)
    res.loaded = sorted(usable)
    return res


def save_opengait_checkpoint(
    model: nn.Module, path: Union[str, os.PathLike], iteration: int = 0, optimizer: Optional[Any] = None,
    scheduler: Optional[Any] = None,
) -> None:
    """Save ``{"model", "optimizer", "scheduler", "iteration"}`` as OpenGait does, so OpenGait can restore it.

    ``optimizer`` / ``scheduler`` keys are written only when given: OpenGait's resume loads whatever those keys hold.
    A bare ``UNet`` is written under ``Backbone.``, so OpenGait's ``Segmentation`` loads it strictly (and so does
    :func:`load_opengait_checkpoint` into a ``UNet`` again). GaitEdge's frozen segmenter is left out (module
    docstring).
    """
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(_FROZEN)}
    if isinstance(model, UNet):
        state = {_BACKBONE + k: v for k, v in state.items()}
    ckpt: Dict[str, Any] = {"model": state}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        ckpt["scheduler"] = scheduler.state_dict()
    ckpt["iteration"] = int(iteration)
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    torch.save(ckpt, path)
