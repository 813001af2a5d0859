"""gaitedge's native on-disk format: one ``.npy`` per modality per sequence plus a JSON index. No pickle.

Layout::

    root/index.json                         {"format": "gaitedge-native", "version": 1, "sequences": [...],
                                             "modalities": [...], "partition": {...} | null, "meta": {...}}
    root/<id>/<type>/<view>/<modality>.npy  frame axis first (rgbs [n,3,H,W] uint8, sils [n,H,W] uint8, ...)

Files are opened with ``np.load(mmap_mode="r", allow_pickle=False)``, so a sampler that reads 30 frames of a
sequence touches only those pages.

Reading a mapped page that a file no longer has kills the process with SIGBUS, so the reader checks each file's
size against its header before mapping it and again (:func:`take_frames`) just before copying frames out; the
writers replace files (write to a temporary name, then rename) rather than truncating them in place, so a
rewrite never cuts a file another process has mapped. Sequence ids are folder names inside the root: an index
entry, or a symlink, that leads outside it is refused.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from gaitedge.data.errors import DataError

from .schema import check_array, check_frames, check_partition, check_values, read_json

__all__ = ["FORMAT_NAME", "write_sequence", "write_index", "read_index", "NativeStore", "is_native_root",
           "take_frames"]

FORMAT_NAME = "gaitedge-native"
VERSION = 1
MAX_FRAMES = 2**31 - 1  # far above any real sequence: a larger count can only be a corrupt index
Key = tuple[str, str, str]


def _seq_dir(root: Path, key: Key) -> Path:
    return Path(root).joinpath(*key)


def write_sequence(root: str | Path, key: Key, arrays: dict[str, np.ndarray]) -> int:
    """Write one sequence's modalities as ``.npy`` files; returns its frame count."""
    sources = {k: f"{'/'.join(key)}/{k}" for k in arrays}
    checked = {k: check_array(np.asarray(v), k, sources[k]) for k, v in arrays.items()}
    n = check_frames(checked, sources, "/".join(key))
    folder = _seq_dir(Path(root), key)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in checked.items():
        final = folder / f"{name}.npy"
        tmp = folder / f".{name}.npy.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
            os.replace(tmp, final)  # a reader that has the old file mapped keeps its inode, untouched
        finally:
            tmp.unlink(missing_ok=True)
    return n


def write_index(
    root: str | Path,
    sequences: list[tuple[Key, int]],
    partition: dict[str, list[str]] | None = None,
    meta: dict | None = None,
    modalities: list[str] | None = None,
) -> Path:
    """Write ``index.json`` for sequences already written with :func:`write_sequence`."""
    root = Path(root)
    if modalities is None:
        found = set()
        for key, _ in sequences[:1]:
            found = {p.stem for p in _seq_dir(root, key).glob("*.npy")}
        modalities = sorted(found)
    index = {
        "format": FORMAT_NAME,
        "version": VERSION,
        "modalities": list(modalities),
        "partition": partition,
        "meta": meta or {},
        "sequences": [{"id": k[0], "type": k[1], "view": k[2], "frames": int(n)} for k, n in sequences],
    }
    path = root / "index.json"
    path.write_text(json.dumps(index, indent=1))
    return path


def is_native_root(root: str | Path) -> bool:
    return (Path(root) / "index.json").is_file()


def read_index(root: str | Path) -> dict:
    """Read and validate ``root/index.json``."""
    path = Path(root) / "index.json"
    if not path.is_file():
        raise FileNotFoundError(f"not a gaitedge native dataset (no index): {path}")
    index = read_json(path, "index")
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME:
        found = index.get("format") if isinstance(index, dict) else None
        raise DataError(f"{path}: not a {FORMAT_NAME} index (format={found!r})")
    if index.get("version") != VERSION:
        raise DataError(f"{path}: unsupported index version {index.get('version')!r} (this gaitedge reads {VERSION})")
    seqs = index.get("sequences")
    if not isinstance(seqs, list) or any(
        not isinstance(s, dict) or not {"id", "type", "view", "frames"} <= s.keys() for s in seqs
    ):
        raise DataError(f"{path}: field 'sequences' must be a list of {{id, type, view, frames}} entries")
    for i, s in enumerate(seqs):
        parts = (s["id"], s["type"], s["view"])
        if not all(isinstance(p, str) for p in parts):
            raise DataError(f"{path}: field 'sequences[{i}]' (id {s['id']!r}): id, type and view must be strings")
        if not all(_is_folder_name(p) for p in parts):
            raise DataError(f"{path}: sequence id {s['id']!r} (type {s['type']!r}, view {s['view']!r}) points "
                            "outside the dataset root: id, type and view must each be one folder name (no "
                            "'/', '\\', '..' or absolute path)")
        if type(s["frames"]) is not int or not 0 <= s["frames"] <= MAX_FRAMES:
            raise DataError(f"{path}: field 'sequences[{i}].frames' (sequence {'/'.join(parts)}) must be an "
                            f"integer in 0..{MAX_FRAMES}, found {s['frames']!r}"[:300])
    modalities = index.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities)):
        raise DataError(f"{path}: field 'modalities' must be a list of names")
    if index.get("partition") is not None:
        index["partition"] = check_partition(index["partition"], str(path))
    if index.get("meta") is not None and not isinstance(index["meta"], dict):
        raise DataError(f"{path}: field 'meta' must be an object, found {type(index['meta']).__name__}")
    return index


def _is_folder_name(part: str) -> bool:
    return part not in ("", ".", "..") and not any(c in part for c in "/\\\0") and not os.path.isabs(part)


def _open_npy(path: Path, mmap: bool) -> np.ndarray:
    """``np.load`` after checking the file holds every byte its header promises (a short file would map)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        header = f.tell()
        size = os.fstat(f.fileno()).st_size
    if dtype.hasobject:
        raise ValueError("object arrays (pickled data) are not allowed")
    data = math.prod(shape) * dtype.itemsize
    if size < header + data:
        raise ValueError(f"truncated: its header promises {'×'.join(map(str, shape))} {dtype} = {data} bytes of data "
                         f"after a {header}-byte header ({header + data} bytes), the file has {size}")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def take_frames(arr: np.ndarray, idx) -> np.ndarray:
    """``arr[idx]`` copied into memory; for a memory-mapped ``.npy``, refuses (naming the file) if it was cut.

    The size check narrows the window in which a file truncated by another process could still raise SIGBUS to
    the copy itself; gaitedge's own writers never truncate in place.
    """
    if isinstance(arr, np.memmap) and getattr(arr, "filename", None):
        base = arr
        while isinstance(base.base, np.memmap):  # a slice of the map: check the whole mapping
            base = base.base
        need = int(base.offset) + base.nbytes
        try:
            size = os.stat(base.filename).st_size
        except OSError as e:
            raise DataError(f"{base.filename}: mapped .npy file is gone: {e}") from None
        if size < need:
            raise DataError(f"{base.filename}: .npy file truncated while in use ({size} bytes left of {need})")
    return np.asarray(arr[idx])


class NativeStore:
    """Reader for the native format.

    Args:
        root: dataset folder holding ``index.json``.
        mmap: memory-map the ``.npy`` files (default) instead of reading them whole.
    """

    def __init__(self, root: str | Path, mmap: bool = True) -> None:
        self.root = Path(root)
        self.index = read_index(self.root)
        self._real_root = self.root.resolve()
        self.mmap = mmap
        self._frames = {(s["id"], s["type"], s["view"]): s["frames"] for s in self.index["sequences"]}
        self._values_checked: set[tuple[str, int, int]] = set()  # (file, size, mtime): values already read once
        self.modalities = tuple(self.index.get("modalities") or ())

    @property
    def keys(self) -> list[Key]:
        return sorted(self._frames)

    @property
    def partition(self) -> dict | None:
        return self.index.get("partition")

    def frames(self, key: Key) -> int:
        return self._frames[key]

    def load(self, key: Key, modalities) -> dict[str, np.ndarray]:
        """Load (memory-map) the requested modalities of one sequence, validated; errors name the file."""
        if key not in self._frames:
            raise KeyError(f"{self.root}: no sequence {'/'.join(key)} in index.json")
        folder = _seq_dir(self.root, key)
        out, sources = {}, {}
        for name in modalities:
            path = folder / f"{name}.npy"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing modality '{name}' for sequence {'/'.join(key)}")
            real = path.resolve()
            if not real.is_relative_to(self._real_root):
                raise DataError(f"{path}: sequence id {key[0]!r} ({'/'.join(key)}) resolves to {real}, outside the "
                                f"dataset root {self._real_root}")
            try:
                arr = _open_npy(path, self.mmap)
            except Exception as e:  # bad header, truncated data, pickled object arrays
                msg = str(e) if str(e).startswith("truncated") else f"corrupt .npy file: {e}"
                raise DataError(f"{path}: {msg}") from None
            source = f"{path} (sequence {'/'.join(key)})"
            out[name] = check_array(arr, name, source, values=False)
            st = path.stat()
            stamp = (str(path), st.st_size, st.st_mtime_ns)
            if stamp not in self._values_checked:  # a mapped file is read whole once, not at every batch
                check_values(out[name], name, source)
                self._values_checked.add(stamp)
            sources[name] = str(path)
        n = check_frames(out, sources, str(folder))
        if out and n != self._frames[key]:
            raise DataError(f"{folder}: files hold {n} frames but index.json says {self._frames[key]}")
        return out
