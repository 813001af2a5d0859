"""Gait models with one output contract, built by name.

>>> from gaitedge.models import create_model, list_models
>>> model = create_model("GaitGL")          # CASIA-B GaitGL, 3,096,673 parameters

Every recogniser's ``forward(batch)`` returns ``{"training_feat", "inference_feat", "visual_summary"}``
(see docs/models.md). ``GaitEdge`` (and ``GaitGL-E2E``) need the compiled ops (``gaitedge._C``); the other
models are plain PyTorch.
"""

from ._registry import create_model, list_models, model_factory, register_model
from .checkpoint import LoadResult, load_opengait_checkpoint, read_opengait_state_dict, save_opengait_checkpoint
from .gaitgl import GaitGL
from .gaitpart import GaitPart
from .gaitset import GaitSet
from .unet import Segmentation, UNet

__all__ = [
    "create_model",
    "list_models",
    "model_factory",
    "register_model",
    "LoadResult",
    "load_opengait_checkpoint",
    "read_opengait_state_dict",
    "save_opengait_checkpoint",
    "GaitGL",
    "GaitPart",
    "GaitSet",
    "Segmentation",
    "UNet",
    "GaitEdge",
]


def __getattr__(name: str):
    # GaitEdge imports gaitedge.nn (compiled ops); keep ``import gaitedge.models`` working without them
    if name == "GaitEdge":
        from .gaitedge import GaitEdge

        return GaitEdge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
