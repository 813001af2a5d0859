"""RGB sequences -> one gait embedding each, with a trained RGB model (GaitEdge with frozen-segmenter masks, the
paper's deployment setting, or GaitGL-E2E): no silhouettes are read.

Sequences are batched by concatenation (``rgbs [1, sum(s), 3, H, W]`` with ``seqL``): the segmenter and GaitAlign
see each frame alone and GaitGL each sequence alone, so an embedding does not depend on which other sequences
share its batch (tested to 1e-5).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import torch

from .._progress import progress_bar
from ..block_cache import block_cache
from ..models import to_channels_last_

logger = logging.getLogger(__name__)

__all__ = ["ModelSpec", "EmbedResult", "load_rgb_model", "embed_batch", "embed_sequences", "rgb_sequence_loaders",
           "MIN_FRAMES", "INPUT_LAYOUTS"]

# GaitGL's first temporal aggregation pools 3 frames; a shorter sequence is padded by repetition and its embedding
# says little, so the default refuses it.
MIN_FRAMES = 3
INPUT_LAYOUTS = ("dataset", "frames", "crops")
Key = tuple[str, str, str]
Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model name and its constructor keyword arguments (a config's ``model`` section)."""

    name: str
    kwargs: Mapping = field(default_factory=dict)


@dataclass
class EmbedResult:
    """``embeddings`` float32 ``[n, c, p]`` in ``keys`` order; ``frames`` per sequence; ``failed`` maps a sequence
    (``id/type/view``) to the one-line reason it was skipped."""

    embeddings: np.ndarray
    keys: list[Key]
    frames: list[int]
    failed: dict[str, str]


def load_rgb_model(spec: ModelSpec, checkpoint: str | os.PathLike, device: str | torch.device = "cpu",
                   channels_last: bool = True):
    """Build ``spec``'s model, load ``checkpoint`` strictly, and check that it embeds from RGB alone.

    ``channels_last`` puts its convolution weights in the channels-last layouts, so the convolutions run in them
    (faster on CPU and GPU; embeddings equal up to float re-association).

    Raises:
        ValueError: the model is not an RGB model, or needs ground-truth silhouettes.
        CheckpointError: (a ValueError) the file is unreadable or holds another model's weights; names the file.
    """
    from gaitedge.experiment import load_trained_model

    model = load_trained_model({"model": {"name": spec.name, "kwargs": dict(spec.kwargs)}}, checkpoint, device)
    if "rgbs" not in getattr(model, "input_keys", ()):
        raise ValueError(f"{checkpoint}: model {spec.name!r} reads {getattr(model, 'input_keys', ())}, not RGB "
                         "crops; embed needs GaitEdge or GaitGL-E2E")
    if getattr(model, "needs_sils", False):
        raise ValueError(f"{checkpoint}: model {spec.name!r} takes its masks from ground-truth silhouettes "
                         "(mask_source='silhouette'); embed needs mask_source='frozen' (or 'trainable')")
    if channels_last:
        to_channels_last_(model)
    return model.eval()


@torch.inference_mode()
def embed_batch(model, sequences: list[tuple[np.ndarray, np.ndarray]], device: str | torch.device = "cpu"):
    """Embeddings float32 ``[b, c, p]`` of ``b`` sequences ``(rgbs uint8 [s, 3, H, W], ratios [s])``."""
    device = torch.device(device)
    rgbs = torch.cat([torch.from_numpy(np.ascontiguousarray(r)) for r, _ in sequences])  # [sum(s), 3, H, W]
    ratios = torch.cat([torch.from_numpy(np.asarray(q, np.float32)) for _, q in sequences])  # [sum(s)]
    seqL = torch.tensor([[len(r) for r, _ in sequences]])  # [1, b]
    out = model.embed(rgbs.to(device).unsqueeze(0), ratios.to(device).unsqueeze(0), seqL=seqL.to(device))
    return out.float().cpu().numpy()


def rgb_sequence_loaders(root: str | os.PathLike, layout: str, size: int = 128,
                         types: tuple[str, ...] | None = None) -> list[tuple[Key, Loader]]:
    """``(key, loader)`` per sequence under ``root``; ``loader()`` gives ``(rgbs uint8 [s, 3, S, S], ratios [s])``
    and ``loader.source`` is the sequence's folder (named in errors).

    ``layout``: "dataset" (a pretreated dataset, native or OpenGait CASIA-B* pickles, with ``rgbs`` and
    ``ratios``), or a raw layout of :mod:`gaitedge.data.rgb_sources` ("frames", "crops"), cropped to ``size``.
    ``types``: keep only sequences of these types (e.g. ``("nm-01", "nm-02")`` for a gallery).
    """
    return [(k, load) for k, load in _loaders(root, layout, size) if types is None or k[1] in types]


def _loaders(root, layout: str, size: int) -> list[tuple[Key, Loader]]:
    if layout not in INPUT_LAYOUTS:
        raise ValueError(f"layout must be one of {INPUT_LAYOUTS}, got {layout!r}")
    if layout == "dataset":
        from gaitedge.data.formats import open_store

        store = open_store(root)
        missing = {"rgbs", "ratios"} - set(store.modalities)
        if missing:
            raise ValueError(f"{root}: the dataset has no {sorted(missing)} (embed needs RGB crops and ratios; "
                             "pretreat RGB data with `gaitedge pretreat --rgb`)")

        def from_store(key):
            def load():
                arrays = store.load(key, ("rgbs", "ratios"))
                return np.array(arrays["rgbs"]), np.array(arrays["ratios"], np.float32)  # copies out of the map
            load.source = str(Path(root).joinpath(*key))
            return load

        return [(tuple(k), from_store(tuple(k))) for k in store.keys]
    from gaitedge.data.png import _cv2
    from gaitedge.data.pretreat_rgb import load_rgb_modalities
    from gaitedge.data.rgb_sources import find_rgb_sequences

    _cv2()  # a missing decoder is one clear ImportError here, not one per sequence

    def from_raw(key):
        def load():
            arrays, dropped, notes = load_rgb_modalities(root, key, layout, size)
            for what in [*notes, *(f"{k}: {v}" for k, v in dropped.items())]:
                logger.warning("%s: %s", "/".join(key), what)
            return arrays["rgbs"], arrays["ratios"]
        load.source = str(Path(root).joinpath(*(("crop_im",) if layout == "crops" else ()), *key))
        return load

    return [(k, from_raw(k)) for k in find_rgb_sequences(root, layout)]


def _check_sequence(rgbs: np.ndarray, ratios: np.ndarray, min_frames: int, min_size: int) -> None:
    if rgbs.ndim != 4 or rgbs.shape[1] != 3 or rgbs.dtype != np.uint8:
        raise ValueError(f"rgbs must be uint8 [s, 3, H, W], got {rgbs.dtype} {rgbs.shape}")
    if ratios.shape != (len(rgbs),):
        raise ValueError(f"ratios must be [s] = [{len(rgbs)}], got {ratios.shape}")
    if len(rgbs) < min_frames:
        raise ValueError(f"{len(rgbs)} frame(s), fewer than the {min_frames} the model needs")
    h, w = rgbs.shape[2:]
    if h % min_size or w % min_size:
        raise ValueError(f"frames are {h}x{w}; the model's segmenter needs multiples of {min_size}")
    if not (np.isfinite(ratios).all() and (ratios > 0).all()):
        raise ValueError("ratios must be finite and positive")


def embed_sequences(model, loaders: Iterable[tuple[Key, Loader]], batch_size: int = 8,
                    device: str | torch.device = "cpu", min_frames: int = MIN_FRAMES,
                    progress: bool = False, cpu_block_cache: bool = True) -> EmbedResult:
    """Embed every sequence ``loaders`` yields, ``batch_size`` sequences per forward pass.

    A sequence that cannot be read or used (unreadable file, too few frames, wrong frame size) is left out and
    reported in ``failed`` with a one-line reason naming its file; the others are embedded. ``cpu_block_cache``:
    on a CPU device, reuse freed large blocks across forward passes (:mod:`gaitedge.block_cache`; the same
    embeddings, faster).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not isinstance(cpu_block_cache, bool):
        raise TypeError(f"cpu_block_cache must be a bool, got {type(cpu_block_cache).__name__}")
    loaders = list(loaders)
    min_size = int(model.Backbone.min_size)
    embeddings, keys, frames, failed = [], [], [], {}
    pending: list[tuple[Key, tuple[np.ndarray, np.ndarray]]] = []
    bar = progress_bar(len(loaders), enabled=progress, unit="seq")

    def flush():
        if pending:
            embeddings.append(embed_batch(model, [seq for _, seq in pending], device))
            keys.extend(k for k, _ in pending)
            frames.extend(len(seq[0]) for _, seq in pending)
            bar.update(len(pending))
            pending.clear()

    with block_cache(cpu_block_cache and torch.device(device).type == "cpu"):
        try:
            for key, load in loaders:
                name = "/".join(key)
                try:
                    rgbs, ratios = load()
                    _check_sequence(rgbs, ratios, min_frames, min_size)
                except (ValueError, OSError, KeyError) as e:
                    # errors from reading name their file; the checks above name the sequence's folder here
                    source = getattr(load, "source", name)
                    text = str(e).strip("'") if source in str(e) else f"{source}: {str(e).strip(chr(39))}"
                    logger.warning("skipped %s", text)
                    failed[name] = text
                    bar.update(1)
                    continue
                pending.append((key, (rgbs, ratios)))
                if len(pending) == batch_size:
                    flush()
            flush()
        finally:
            bar.close()
    if embeddings:
        emb = np.concatenate(embeddings)
    else:
        emb = np.zeros((0, 0, 0), np.float32)
    return EmbedResult(emb, keys, frames, failed)
