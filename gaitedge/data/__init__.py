"""Data layer: SynthGait, on-disk formats (native .npy and OpenGait .pkl), pretreatment, datasets and sampling.

Items are ``(inputs: dict[str, np.ndarray], label, type, view)``; :class:`GaitCollate` makes the batch dict of
``interfaces.md``. See ``docs/data.md``.

Names load on first use, so the parts that need no torch (pretreatment, PNG I/O, the on-disk formats) start
without importing it: ``gaitedge pretreat`` saves the two seconds torch takes to import.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

# public name -> submodule that defines it
_EXPORTS = {
    "build_dataset": "builders", "build_test_loader": "builders", "build_train_data": "builders",
    "GaitCollate": "collate", "sample_frames": "collate",
    "GaitDataset": "datasets", "SynthGaitDataset": "datasets",
    "DataError": "errors", "CorruptPickleError": "formats",
    "NativeStore": "formats", "OpenGaitStore": "formats", "UnsafePickleError": "formats", "load_partition": "formats",
    "open_store": "formats", "safe_load_pkl": "formats", "write_partition": "formats",
    "box_from_mask": "pretreatment", "crop_box": "pretreatment", "normalise_sequence": "pretreatment",
    "normalise_silhouette": "pretreatment", "pretreat_rgb_sequence": "pretreatment",
    "pretreat_silhouette_folders": "pretreatment",
    "InferenceSampler": "samplers", "TripletSampler": "samplers",
    "SynthGait": "synth", "generate_synthgait": "synth",
    "RandomCropShift": "transforms", "ColourAugment": "transforms", "RgbNormalise": "transforms", "SilhouetteCut": "transforms",
    "SilhouetteScale": "transforms", "default_transforms": "transforms",
}  # fmt: skip

__all__ = [
    "SynthGait", "generate_synthgait", "GaitDataset", "SynthGaitDataset", "GaitCollate", "sample_frames",
    "TripletSampler", "InferenceSampler", "NativeStore", "OpenGaitStore", "open_store", "load_partition",
    "write_partition", "safe_load_pkl", "DataError", "UnsafePickleError", "CorruptPickleError", "normalise_silhouette",
    "normalise_sequence",
    "box_from_mask", "crop_box", "pretreat_rgb_sequence", "pretreat_silhouette_folders", "RgbNormalise",
    "SilhouetteScale", "SilhouetteCut", "RandomCropShift", "ColourAugment", "default_transforms",
]  # fmt: skip

if TYPE_CHECKING:
    from .builders import build_dataset, build_test_loader, build_train_data
    from .collate import GaitCollate, sample_frames
    from .datasets import GaitDataset, SynthGaitDataset
    from .formats import NativeStore, OpenGaitStore, UnsafePickleError, load_partition, open_store, safe_load_pkl
    from .errors import DataError
    from .formats import CorruptPickleError, write_partition
    from .pretreatment import (
        box_from_mask,
        crop_box,
        normalise_sequence,
        normalise_silhouette,
        pretreat_rgb_sequence,
        pretreat_silhouette_folders,
    )
    from .samplers import InferenceSampler, TripletSampler
    from .synth import SynthGait, generate_synthgait
    from .transforms import ColourAugment, RandomCropShift, RgbNormalise, SilhouetteCut, SilhouetteScale, default_transforms


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule, e.g. gaitedge.data.formats
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
