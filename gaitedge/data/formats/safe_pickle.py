"""A restricted unpickler for dataset files: numpy arrays and plain containers only, never code.

OpenGait stores every sequence modality as a pickled numpy array. ``pickle.load`` on such a file can run any
callable the file names (``os.system`` included). ``safe_load_pkl`` resolves only what ``pickle.dump`` of numpy
arrays, numpy scalars and plain containers writes, and refuses every other global with :class:`UnsafePickleError`
before anything is called.

The allowed callables are wrapped so that a small file cannot make the loader allocate much more than its own size
or return memory it never wrote: an array gets its elements only from bytes inside the pickle (numpy's
``_reconstruct`` placeholder must be filled by its ``__setstate__``, ``_frombuffer`` and ``scalar`` need their
data), ``numpy.ndarray(shape)`` cannot be called, ``bytes(n)`` / ``bytearray(n)`` of an integer are refused, and
object arrays are refused (their "data" is a list of arbitrary objects, and numpy's ``__setstate__`` trusts the
list's length: a short list crashes the process or exposes heap memory).
"""

from __future__ import annotations

import _codecs
import builtins
import collections
import importlib
import io
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["UnsafePickleError", "safe_load_pkl", "safe_loads_pkl", "save_pkl"]

_NUMPY_CORE = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spellings, both found in the wild


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list, or used an allowed one in a way no array pickle does."""


def _core(suffix: str, name: str):
    core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
    return getattr(importlib.import_module(f"{core}.{suffix}"), name)


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` inside a pickle: numpy's reconstructor receives it as its subtype argument.

    Calling it is what a hostile file would do (``ndarray(shape)`` hands back uninitialised memory), so it refuses.
    """

    def __init__(self, source: str) -> None:
        self._source = source

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError(f"{self._source}: calling numpy.ndarray directly would allocate an array whose "
                                "contents are not in the file; array pickles never do this")


class _PendingArray(np.ndarray):
    """numpy's ``_reconstruct`` placeholder, until its ``__setstate__`` (the pickle's BUILD) supplies the data."""

    def __setstate__(self, state) -> None:
        source = getattr(self, "_source", "<pickle>")
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError(f"{source}: unexpected numpy array state ({type(state).__name__})")
        shape, dtype, _, raw = state[-4:]
        if not isinstance(dtype, np.dtype):
            raise UnsafePickleError(f"{source}: array state without a numpy dtype")
        if dtype.hasobject:
            raise UnsafePickleError(f"{source}: object arrays are not allowed in dataset pickles")
        if not isinstance(raw, bytes):
            raise UnsafePickleError(f"{source}: array data must be bytes stored in the file, got {type(raw).__name__}")
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise UnsafePickleError(f"{source}: bad array shape {shape!r}")
        if math.prod(shape) * dtype.itemsize != len(raw):
            raise UnsafePickleError(f"{source}: array of shape {shape} and dtype {dtype} needs "
                                    f"{math.prod(shape) * dtype.itemsize} bytes, the file holds {len(raw)}")
        super().__setstate__(state)
        self._filled = True


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file)
        self._source = source
        self._pending: list[_PendingArray] = []
        self._ndarray = _NdarrayToken(source)

    def _refuse(self, what: str) -> UnsafePickleError:
        return UnsafePickleError(f"{self._source}: {what}")

    # numpy's pickle protocol: every array pickle goes through one of these three.

    def _reconstruct(self, subtype, shape, dtype):
        # numpy always writes _reconstruct(ndarray, (0,), b"b"): an empty placeholder that BUILD then fills.
        if subtype is not self._ndarray or shape != (0,) or dtype not in (b"b", "b"):
            raise self._refuse(f"numpy _reconstruct{(shape, dtype)!r} is not an array placeholder: array pickles "
                               "only ever ask for an empty one and then supply its data")
        arr = np.ndarray.__new__(_PendingArray, (0,), np.int8)
        arr._source = self._source
        arr._filled = False
        self._pending.append(arr)
        return arr

    def _frombuffer(self, buf, dtype, shape, order):
        if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype) or dtype.hasobject:
            raise self._refuse("numpy _frombuffer needs bytes stored in the file and a non-object dtype")
        return _core("numeric", "_frombuffer")(buf, dtype, shape, order)

    def _scalar(self, dtype, obj=None):
        if not isinstance(dtype, np.dtype) or dtype.hasobject:
            raise self._refuse("numpy scalar needs a non-object dtype")
        if not isinstance(obj, bytes) or len(obj) != dtype.itemsize:
            raise self._refuse(f"numpy scalar of dtype {dtype} needs its {dtype.itemsize} bytes from the file")
        return _core("multiarray", "scalar")(dtype, obj)

    # Builtins that protocols 0-4 call for bytes and bytearrays; none may be asked to allocate.

    def _bytes(self, *args):
        return bytes(self._buffer_args("bytes", args))

    def _bytearray(self, *args):
        return bytearray(self._buffer_args("bytearray", args))

    def _buffer_args(self, name: str, args) -> bytes:
        if not args:
            return b""
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return bytes(args[0])
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin1")
        raise self._refuse(f"{name}() with arguments of types {[type(a).__name__ for a in args]} is not allowed "
                           "(an integer would allocate that many bytes)")

    def _encode(self, obj, encoding="utf-8"):
        # Protocols 0-2 store bytes as _codecs.encode(str, "latin1"), a copy of data in the file.
        if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
            raise self._refuse("_codecs.encode is only allowed as encode(str, 'latin1')")
        return _codecs.encode(obj, encoding)

    @staticmethod
    def _from_items(kind):
        def build(items=()):
            if not isinstance(items, (list, tuple)):
                raise UnsafePickleError(f"{kind.__name__}() from a pickle takes a list of items")
            return kind(items)

        return build

    def find_class(self, module: str, name: str) -> Any:
        for core in _NUMPY_CORE:
            if module == f"{core}.multiarray" and name == "_reconstruct":
                return self._reconstruct
            if module == f"{core}.multiarray" and name == "scalar":
                return self._scalar
            if module == f"{core}.numeric" and name == "_frombuffer":
                return self._frombuffer
        if module == "numpy" and name == "ndarray":
            return self._ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype  # builds a descriptor only; its size matters only together with data
        if module in ("builtins", "__builtin__"):  # __builtin__: protocols 0-2
            if name == "bytes":
                return self._bytes
            if name == "bytearray":
                return self._bytearray
            if name in ("set", "frozenset"):  # protocols 0-3 write set([...]) and frozenset([...])
                return self._from_items(getattr(builtins, name))
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "_codecs" and name == "encode":
            return self._encode
        raise UnsafePickleError(
            f"{self._source}: refusing to load '{module}.{name}': dataset pickles may only contain numpy arrays and "
            "plain containers (this file could execute code if loaded with pickle.load)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: persistent ids are not allowed in dataset pickles")

    def load(self) -> Any:
        obj = super().load()
        for arr in self._pending:
            if not arr._filled:
                raise self._refuse("a numpy array placeholder was never given its data")
        return _plain_arrays(obj, {}) if self._pending else obj


def _plain_arrays(obj: Any, seen: dict[int, Any]) -> Any:
    """Swap the filled placeholders for plain ndarrays (views of the same data), inside the usual containers."""
    done = seen.get(id(obj))
    if done is not None:
        return done
    if isinstance(obj, _PendingArray):
        seen[id(obj)] = out = obj.view(np.ndarray)
        return out
    if isinstance(obj, list):
        seen[id(obj)] = obj
        obj[:] = [_plain_arrays(v, seen) for v in obj]
    elif isinstance(obj, dict):
        seen[id(obj)] = obj
        for k, v in obj.items():
            obj[k] = _plain_arrays(v, seen)
    elif isinstance(obj, tuple):
        items = [_plain_arrays(v, seen) for v in obj]
        seen[id(obj)] = out = obj if all(a is b for a, b in zip(items, obj)) else tuple(items)
        return out
    return obj


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
