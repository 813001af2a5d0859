"""A restricted unpickler for dataset files: numpy arrays and plain containers only, never code.

OpenGait stores every sequence modality as a pickled numpy array. ``pickle.load`` on such a file can run any
callable the file names (``os.system`` included). ``safe_load_pkl`` resolves only an explicit allow-list of
globals (the numpy reconstruction helpers, ``ndarray``/``dtype`` and a few builtin containers) and refuses every
other global with :class:`UnsafePickleError` before anything is called.
"""

from __future__ import annotations

import builtins
import collections
import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["UnsafePickleError", "safe_load_pkl", "safe_loads_pkl", "save_pkl"]

_NUMPY_CORE = ("numpy.core", "numpy._core")
# (module suffix after numpy's core package, attribute) the numpy pickle protocol uses.
_NUMPY_CORE_NAMES = {("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer")}
_BUILTINS = {"list", "dict", "tuple", "set", "frozenset", "bytearray", "bytes", "str", "int", "float", "bool",
             "complex", "slice", "range"}  # fmt: skip


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list (it might execute code)."""


def _core_module(suffix: str):
    core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
    return importlib.import_module(f"{core}.{suffix}")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        for core in _NUMPY_CORE:
            if module.startswith(core + ".") and (module[len(core) + 1 :], name) in _NUMPY_CORE_NAMES:
                return getattr(_core_module(module[len(core) + 1 :]), name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            # numpy >= 1.25 may pickle dtypes by their DType class; those classes only build dtypes.
            obj = getattr(importlib.import_module("numpy.dtypes"), name, None)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                return obj
        if module in ("builtins", "__builtin__") and name in _BUILTINS:  # __builtin__: protocols 0-2
            return getattr(builtins, name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "_codecs" and name == "encode":
            # Protocol-2 pickles store bytes as _codecs.encode(str, "latin1"); a pure function.
            import _codecs

            return _codecs.encode
        raise UnsafePickleError(
            f"{self._source}: refusing to load '{module}.{name}': dataset pickles may only contain numpy arrays and "
            "plain containers (this file could execute code if loaded with pickle.load)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: persistent ids are not allowed in dataset pickles")


def safe_loads_pkl(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle bytes with the restricted allow-list (see :func:`safe_load_pkl`)."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # truncated or garbage data surfaces as many exception types
        raise pickle.UnpicklingError(f"{source}: corrupt pickle: {type(e).__name__}: {e}") from None


def safe_load_pkl(path: str | Path) -> Any:
    """Load a pickle that may only contain numpy arrays and plain containers.

    Args:
        path: the ``.pkl`` file.

    Returns:
        The unpickled object (typically one ``np.ndarray``).

    Raises:
        UnsafePickleError: the file names a global outside the allow-list; nothing from it was called.
        pickle.UnpicklingError: the file is truncated or corrupt.
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle file not found: {path}")
    with open(path, "rb") as f:
        return safe_loads_pkl(f.read(), str(path))


def save_pkl(path: str | Path, obj: Any) -> None:
    """Pickle ``obj`` (protocol 4, readable by OpenGait and by :func:`safe_load_pkl`)."""
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
