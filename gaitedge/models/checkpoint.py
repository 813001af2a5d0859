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
           "opengait_parameter_groups", "CheckpointError", "CheckpointMismatchError"]

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


# OpenGait's optimiser for each model, as its own code builds it (a fact of OpenGait, not a choice here):
# - BaseModel.get_optimizer: one group of every parameter with requires_grad, in registration order;
# - GaitEdge.get_optimizer (finetune_parameters): [the trainable names containing "Backbone", everything else];
# - U_Net(freeze_half=True), OpenGait's default for Segmentation and GaitEdge: Conv1-Conv4 are frozen.
# The solver is what OpenGait's shipped config for the model names (configs/gaitedge/*.yaml, gaitset, gaitpart).
_UNET_ENCODER = tuple(f"{_BACKBONE}Conv{i}." for i in range(1, 5))


@dataclass(frozen=True)
class _OpenGaitOptimizer:
    solver: str
    split_backbone: bool  # GaitEdge's two groups, else one
    frozen_encoder: bool  # freeze_half


_OPENGAIT_OPTIMIZERS = {
    "GaitGL": _OpenGaitOptimizer("Adam", False, False),
    "GaitSet": _OpenGaitOptimizer("Adam", False, False),
    "GaitPart": _OpenGaitOptimizer("Adam", False, False),
    "Segmentation": _OpenGaitOptimizer("SGD", False, True),
    "UNet": _OpenGaitOptimizer("SGD", False, True),
    "GaitEdge": _OpenGaitOptimizer("Adam", True, True),
}


def _opengait_kind(model: nn.Module) -> str:
    for cls in type(model).__mro__:
        if cls.__name__ in _OPENGAIT_OPTIMIZERS:
            return cls.__name__
    raise CheckpointError(f"OpenGait has no optimiser layout known here for {type(model).__name__}; save without "
                          "optimizer= (OpenGait then starts a fresh optimiser)")


def opengait_parameter_groups(model: nn.Module) -> List[List[str]]:
    """The parameter names of each group of the optimiser OpenGait builds for ``model``, in OpenGait's order (the
    names as :func:`save_opengait_checkpoint` writes them, ``Backbone.`` included for a bare ``UNet``)."""
    spec = _OPENGAIT_OPTIMIZERS[_opengait_kind(model)]
    prefix = _BACKBONE if isinstance(model, UNet) else ""
    names = [prefix + n for n, _ in model.named_parameters() if not n.startswith(_FROZEN)]
    if spec.frozen_encoder:
        names = [n for n in names if not n.startswith(_UNET_ENCODER)]
    if not spec.split_backbone:
        return [names]
    return [[n for n in names if "Backbone" in n], [n for n in names if "Backbone" not in n]]


def _opengait_optimizer_state(model: nn.Module, optimizer: Any, solver: Optional[str]) -> tuple[dict, List[int]]:
    """``optimizer``'s state laid out as OpenGait's optimiser for ``model`` numbers and groups it, and for each
    OpenGait group the index of the group of ``optimizer`` it came from. Refuses (CheckpointError) what OpenGait's
    resume could not load or would load into the wrong parameters."""
    kind = _opengait_kind(model)
    want = solver or _OPENGAIT_OPTIMIZERS[kind].solver
    if type(optimizer).__name__ != want:
        raise CheckpointError(f"OpenGait trains {kind} with {want}, this optimiser is {type(optimizer).__name__}: "
                              f"its state would not load into OpenGait's (pass solver= if your OpenGait config names "
                              "another, or save without optimizer=)")
    prefix = _BACKBONE if isinstance(model, UNet) else ""
    name_of = {id(p): prefix + n for n, p in model.named_parameters()}
    ours = optimizer.state_dict()
    index: Dict[str, tuple[int, int]] = {}  # name -> (our group, our state index)
    i = 0
    for gi, group in enumerate(optimizer.param_groups):
        for p in group["params"]:
            if id(p) not in name_of:
                raise CheckpointError(f"the optimiser holds a parameter that is not part of {type(model).__name__}")
            index[name_of[id(p)]] = (gi, i)
            i += 1
    groups = opengait_parameter_groups(model)
    theirs = {n for g in groups for n in g}
    extra, missing = sorted(set(index) - theirs), sorted(theirs - set(index))
    if extra or missing:
        raise CheckpointError(
            f"OpenGait's {kind} optimiser trains {len(theirs)} tensors, this one {len(index)}: "
            + (f"{len(extra)} that OpenGait keeps frozen (e.g. {extra[:3]})" if extra else "")
            + ("; " if extra and missing else "")
            + (f"{len(missing)} that it trains are missing (e.g. {missing[:3]})" if missing else "")
            + (" (OpenGait's U_Net freezes its encoder: build the model with freeze_encoder=True)"
               if any(n.startswith(_UNET_ENCODER) for n in extra) else ""))
    state: Dict[int, Any] = {}
    param_groups, sources = [], []
    new = 0
    for g, names in enumerate(groups):
        from_groups = sorted({index[n][0] for n in names})
        settings = [{k: v for k, v in ours["param_groups"][j].items() if k not in ("params", "name")}
                    for j in from_groups]
        if any(s != settings[0] for s in settings[1:]):
            raise CheckpointError(f"OpenGait's {kind} optimiser group {g} takes parameters from groups {from_groups} "
                                  f"of this one, whose settings differ ({settings[0]} vs {settings[1]})")
        params = []
        for n in names:
            old = index[n][1]
            if old in ours["state"]:
                state[new] = ours["state"][old]
            params.append(new)
            new += 1
        param_groups.append(dict(settings[0], params=params))
        sources.append(from_groups[0])
    return {"state": state, "param_groups": param_groups}, sources


def save_opengait_checkpoint(
    model: nn.Module, path: Union[str, os.PathLike], iteration: int = 0, optimizer: Optional[Any] = None,
    scheduler: Optional[Any] = None, solver: Optional[str] = None,
) -> None:
    """Save ``{"model", "optimizer", "scheduler", "iteration"}`` as OpenGait does, so OpenGait can restore it.

    ``optimizer`` / ``scheduler`` keys are written only when given: OpenGait's resume loads whatever those keys hold.
    A bare ``UNet`` is written under ``Backbone.``, so OpenGait's ``Segmentation`` loads it strictly (and so does
    :func:`load_opengait_checkpoint` into a ``UNet`` again). GaitEdge's frozen segmenter is left out (module
    docstring).

    An optimiser's state is rewritten in the layout OpenGait's own optimiser for the model has
    (:func:`opengait_parameter_groups`): its group order (GaitEdge: [U-Net decoder, recogniser]), its numbering of
    the parameters, and its frozen set (the U-Net encoder, with OpenGait's default ``freeze_half``). A scheduler's
    per-group lists follow the groups.

    Args:
        solver: the optimiser class OpenGait's config for this model names (default: its shipped config's, Adam,
            or SGD for Segmentation); the optimiser given must be of that class.

    Raises:
        CheckpointError: before anything is written, when the optimiser is of another class, trains another set of
            tensors than OpenGait's (e.g. the U-Net encoder), merges groups whose settings differ, or the model has no
            known OpenGait optimiser; or when the scheduler is not OpenGait's MultiStepLR.
    """
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(_FROZEN)}
    if isinstance(model, UNet):
        state = {_BACKBONE + k: v for k, v in state.items()}
    ckpt: Dict[str, Any] = {"model": state}
    if optimizer is not None:
        ckpt["optimizer"], sources = _opengait_optimizer_state(model, optimizer, solver)
    if scheduler is not None:
        if type(scheduler).__name__ != "MultiStepLR":
            raise CheckpointError(f"OpenGait's configs schedule with MultiStepLR, this scheduler is "
                                  f"{type(scheduler).__name__}: save without scheduler=")
        sched = dict(scheduler.state_dict())
        if optimizer is not None:
            for key in ("base_lrs", "_last_lr"):  # one value per optimiser group, in the groups' order
                if isinstance(sched.get(key), list):
                    sched[key] = [sched[key][j] for j in sources]
        ckpt["scheduler"] = sched
    ckpt["iteration"] = int(iteration)
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    torch.save(ckpt, path)
