"""OpenGait's on-disk layout ``root/<id>/<type>/<view>/*.pkl`` and its partition JSON.

CASIA-B* (``casiab-star``): ``<view>-aligned-sils.pkl`` [n,64,44], ``<view>-ratios.pkl`` [n],
``<view>-rgbs.pkl`` [n,3,128,128], ``<view>-sils.pkl`` [n,128,128]. Plain CASIA-B (``casiab``): ``<view>.pkl``
uint8 [n,64,64], read here as ``aligned_sils`` and cut to 44 columns by the silhouette transform.
Every pickle is read with :func:`~gaitedge.data.formats.safe_pickle.safe_load_pkl`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .safe_pickle import safe_load_pkl, save_pkl
from gaitedge.data.errors import DataError

from .schema import check_array, check_frames, check_partition, read_json

__all__ = ["write_sequence", "write_partition", "load_partition", "OpenGaitStore", "file_modality"]

Key = tuple[str, str, str]
_SUFFIX = {"aligned_sils": "-aligned-sils", "ratios": "-ratios", "rgbs": "-rgbs", "sils": "-sils"}


def file_modality(name: str, view: str) -> str:
    """Modality of a pickle file name inside a view folder (``"090-rgbs.pkl"`` → ``"rgbs"``)."""
    stem = name[:-4] if name.endswith(".pkl") else name
    if stem == view:
        return "aligned_sils"  # plain CASIA-B: one [n, 64, 64] silhouette file
    for modality, suffix in _SUFFIX.items():
        if stem == view + suffix:
            return modality
    return stem.removeprefix(view + "-").replace("-", "_")


def write_sequence(root: str | Path, key: Key, arrays: dict[str, np.ndarray], layout: str = "casiab-star") -> int:
    """Write one sequence as OpenGait pickles; returns its frame count.

    Args:
        root: dataset root.
        key: (id, type, view).
        arrays: modality → array (frame axis first).
        layout: "casiab-star" (one ``<view>-<modality>.pkl`` per modality) or "casiab" (``aligned_sils``
            [n, 64, 64] only, written as ``<view>.pkl``).
    """
    if layout not in ("casiab-star", "casiab"):
        raise ValueError(f"layout must be 'casiab-star' or 'casiab', got {layout!r}")
    where = "/".join(key)
    checked = {k: check_array(np.asarray(v), k, f"{where}/{k}") for k, v in arrays.items()}
    n = check_frames(checked, {k: k for k in checked}, where)
    folder = Path(root).joinpath(*key)
    folder.mkdir(parents=True, exist_ok=True)
    view = key[2]
    if layout == "casiab":
        if set(checked) != {"aligned_sils"} or checked["aligned_sils"].shape[1:] != (64, 64):
            raise ValueError(f"{where}: the 'casiab' layout holds only aligned_sils [n, 64, 64], got "
                             f"{ {k: v.shape for k, v in checked.items()} }")  # fmt: skip
        save_pkl(folder / f"{view}.pkl", np.ascontiguousarray(checked["aligned_sils"]))
        return n
    for name, arr in checked.items():
        suffix = _SUFFIX.get(name, "-" + name.replace("_", "-"))
        save_pkl(folder / f"{view}{suffix}.pkl", np.ascontiguousarray(arr))
    return n


def write_partition(path: str | Path, partition: dict[str, list[str]]) -> None:
    """Write OpenGait's partition JSON ``{"TRAIN_SET": [...], "TEST_SET": [...]}``."""
    if not {"TRAIN_SET", "TEST_SET"} <= set(partition):
        raise ValueError(f"partition needs TRAIN_SET and TEST_SET, got keys {sorted(partition)}")
    Path(path).write_text(json.dumps({"TRAIN_SET": list(partition["TRAIN_SET"]), "TEST_SET": list(partition["TEST_SET"])}, indent=1))


def load_partition(path: str | Path) -> dict[str, list[str]]:
    """Read and validate a partition JSON (ids become strings)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"partition file not found: {path}")
    data = read_json(path, "partition JSON")
    if not isinstance(data, dict) or not {"TRAIN_SET", "TEST_SET"} <= set(data):
        raise DataError(f"{path}: partition must be an object with TRAIN_SET and TEST_SET lists")
    data = check_partition({k: data[k] for k in ("TRAIN_SET", "TEST_SET")}, str(path), field="")
    return data


class OpenGaitStore:
    """Reader for ``root/<id>/<type>/<view>/*.pkl`` (CASIA-B* or plain CASIA-B).

    Args:
        root: dataset root.
        cache: keep loaded sequences in memory (pickles cannot be memory-mapped).
    """

    def __init__(self, root: str | Path, cache: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset root is not a directory: {self.root}")
        self._files: dict[Key, dict[str, Path]] = {}
        for pkl in sorted(self.root.glob("*/*/*/*.pkl")):
            key = pkl.parent.relative_to(self.root).parts
            self._files.setdefault(key, {})[file_modality(pkl.name, key[2])] = pkl
        self.cache = cache
        self._cache: dict[Key, dict[str, np.ndarray]] = {}
        self.modalities = tuple(sorted({m for files in self._files.values() for m in files}))

    @property
    def keys(self) -> list[Key]:
        return sorted(self._files)

    @property
    def partition(self) -> None:
        return None

    def load(self, key: Key, modalities) -> dict[str, np.ndarray]:
        """Load the requested modalities of one sequence, validated; errors name the file."""
        files = self._files.get(key)
        if files is None:
            raise KeyError(f"{self.root}: no sequence {'/'.join(key)}")
        out, sources = {}, {}
        cached = self._cache.get(key, {})
        for name in modalities:
            if name in cached:
                out[name] = cached[name]
                continue
            path = files.get(name)
            if path is None:
                raise FileNotFoundError(
                    f"{self.root.joinpath(*key)}: missing modality '{name}' (found {sorted(files)})"
                )
            out[name] = check_array(safe_load_pkl(path), name, f"{path} (sequence {'/'.join(key)})")
            sources[name] = str(path)
        check_frames(out, sources, str(self.root.joinpath(*key)))
        if self.cache:
            self._cache.setdefault(key, {}).update(out)
        return out
