"""A tiny trained-looking RGB model on disk (random weights, a run folder's config.json) and SynthGait data."""

import json
from pathlib import Path

import torch

from gaitedge.models import create_model
from gaitedge.training.checkpoint import save_checkpoint

MODEL = {"name": "GaitEdge", "kwargs": {"channels": [8, 16, 32], "parts": 16, "seg_channels": [8, 16, 32],
                                        "num_classes": 4, "mask_source": "frozen"}}


def tiny_model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    kwargs = dict(MODEL["kwargs"], **overrides)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return create_model(MODEL["name"], **kwargs).eval()


def write_run(folder: Path, model=None, model_cfg: dict = MODEL) -> Path:
    """A run folder as `gaitedge train` leaves it: GaitEdge-0.pt plus config.json; returns the checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_model() if model is None else model
    path = save_checkpoint(folder / "GaitEdge-0.pt", model=model, iteration=0)
    (folder / "config.json").write_text(json.dumps({"model": model_cfg, "data": {}, "trainer": {}}))
    return path
