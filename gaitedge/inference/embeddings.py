"""Embedding files: ``embeddings.npy`` (float32 ``[n, c, p]``) plus ``index.json`` naming each row's sequence.

``index.json``: ``{"format": "gaitedge-embeddings", "version": 1, "shape": [n, c, p], "model": {...},
"sequences": [{"id", "type", "view", "frames"}], "failed": {sequence: reason}}``. Row ``i`` of the array is
sequence ``i``; ``id`` is the identity label when the data's folders are named by person.
"""

from __future__ import annotations

import json

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingSet", "write_embeddings", "read_embeddings", "FORMAT_NAME"]

FORMAT_NAME = "gaitedge-embeddings"
VERSION = 1


@dataclass
class EmbeddingSet:
    """``embeddings`` float32 ``[n, c, p]`` and one ``{"id", "type", "view", "frames"}`` record per row."""

    embeddings: np.ndarray
    sequences: list[dict]
    model: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [s["id"] for s in self.sequences]

    def names(self) -> list[str]:
        return ["/".join((s["id"], s["type"], s["view"])) for s in self.sequences]


def write_embeddings(folder: str | os.PathLike, emb: EmbeddingSet) -> Path:
    """Write ``embeddings.npy`` and ``index.json`` into ``folder`` (created); each replaces its file atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(emb.embeddings, np.float32)
    index = {"format": FORMAT_NAME, "version": VERSION, "shape": list(arr.shape), "model": emb.model,
             "sequences": emb.sequences, "failed": emb.failed}
    for name, write in (("embeddings.npy", lambda f: np.save(f, arr, allow_pickle=False)),
                        ("index.json", lambda f: f.write(json.dumps(index, indent=1).encode()))):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                write(f)
            os.replace(tmp, folder / name)
        finally:
            tmp.unlink(missing_ok=True)
    return folder


def read_embeddings(folder: str | os.PathLike) -> EmbeddingSet:
    """Read and validate an embedding folder; every error names the file."""
    folder = Path(folder)
    index_path, npy_path = folder / "index.json", folder / "embeddings.npy"
    for p in (index_path, npy_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: not found (an embedding folder holds embeddings.npy and index.json, "
                                    "as `gaitedge embed` writes)")
    try:
        index = json.loads(index_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{index_path}: unreadable ({e})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME or index.get("version") != VERSION:
        raise ValueError(f"{index_path}: not a {FORMAT_NAME} version {VERSION} index")
    seqs = index.get("sequences")
    if not isinstance(seqs, list) or any(not isinstance(s, dict) or not all(isinstance(s.get(k), str)
                                                                            for k in ("id", "type", "view"))
                                         for s in seqs):
        raise ValueError(f"{index_path}: 'sequences' must be a list of {{id, type, view}} string records")
    try:
        arr = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{npy_path}: unreadable ({e})") from None
    if arr.ndim != 3 or arr.dtype.kind != "f" or len(arr) != len(seqs):
        raise ValueError(f"{npy_path}: expected float [n, c, p] with n = {len(seqs)} rows (index.json), got "
                         f"{arr.dtype} {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{npy_path}: holds NaN or infinite values")
    model = index.get("model") if isinstance(index.get("model"), dict) else {}
    failed = index.get("failed") if isinstance(index.get("failed"), dict) else {}
    return EmbeddingSet(arr.astype(np.float32, copy=False), seqs, model, failed)


