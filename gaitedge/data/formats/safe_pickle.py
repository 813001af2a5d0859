"""A restricted unpickler for dataset files: numpy arrays and plain containers only, never code.

OpenGait stores every sequence modality as a pickled numpy array. ``pickle.load`` on such a file can run any
callable the file names (``os.system`` included). ``safe_load_pkl`` resolves only what ``pickle.dump`` of numpy
arrays, numpy scalars and plain containers writes, and refuses every other global with :class:`UnsafePickleError`
before anything is called. The opcodes are read once before unpickling (``pickletools``, which runs nothing), so a
file that would make the unpickler itself allocate (a huge memo index) is refused first. Every refusal is a
:class:`~gaitedge.data.errors.DataError` naming the file.

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
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from gaitedge.data.errors import DataError

__all__ = ["UnsafePickleError", "CorruptPickleError", "safe_load_pkl", "safe_loads_pkl", "save_pkl",
           "MAX_PICKLE_DEPTH"]

_NUMPY_CORE = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spellings, both found in the wild
# containers nested deeper than this are refused: array pickles nest two or three levels, and code that walks the
# result recursively (ours, numpy's, repr) must never meet a depth near Python's recursion limit
MAX_PICKLE_DEPTH = 64


class UnsafePickleError(DataError, pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list, or used an allowed one in a way no array pickle does."""


class CorruptPickleError(DataError, pickle.UnpicklingError):
    """A pickle that is truncated, garbled, or written with a protocol this Python cannot read."""


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


class _SealedArray(np.ndarray):
    """An array ``_frombuffer`` built from the file's bytes; a later BUILD on it (never written by numpy) refuses."""

    def __setstate__(self, state) -> None:
        raise UnsafePickleError(f"{getattr(self, '_source', '<pickle>')}: a finished numpy array was given a new "
                                "state; array pickles never do this")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file)
        self._source = source
        self._pending: list[np.ndarray] = []  # _PendingArray placeholders and _SealedArray results
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
        arr = _core("numeric", "_frombuffer")(buf, dtype, shape, order)
        # sealed until load() returns: a BUILD on a plain ndarray would reach numpy's own __setstate__, which
        # trusts an object-dtype state's list length and crashes the process on a short one
        sealed = arr.view(_SealedArray)
        sealed._source = self._source
        self._pending.append(sealed)
        return sealed

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
            if isinstance(arr, _PendingArray) and not arr._filled:
                raise self._refuse("a numpy array placeholder was never given its data")
        return _plain_arrays(obj, {}, self._source, 0)


def _plain_arrays(obj: Any, seen: dict[int, Any], source: str, depth: int) -> Any:
    """Swap the placeholders and sealed arrays for plain ndarrays (views of the same data), inside the usual
    containers; refuses containers nested deeper than ``MAX_PICKLE_DEPTH``. Each container is visited once, so
    shared references (a list holding itself, or the same list a million times) cost one visit."""
    done = seen.get(id(obj))
    if done is not None:
        return done
    if depth > MAX_PICKLE_DEPTH:
        raise UnsafePickleError(f"{source}: containers nested more than {MAX_PICKLE_DEPTH} deep; dataset pickles "
                                "hold arrays, not deep structures")
    if isinstance(obj, (_PendingArray, _SealedArray)):
        seen[id(obj)] = out = obj.view(np.ndarray)
        return out
    if isinstance(obj, list):
        seen[id(obj)] = obj
        obj[:] = [_plain_arrays(v, seen, source, depth + 1) for v in obj]
    elif isinstance(obj, dict):
        seen[id(obj)] = obj
        for k, v in obj.items():
            obj[k] = _plain_arrays(v, seen, source, depth + 1)
    elif isinstance(obj, tuple):
        items = [_plain_arrays(v, seen, source, depth + 1) for v in obj]
        seen[id(obj)] = out = obj if all(a is b for a, b in zip(items, obj)) else tuple(items)
        return out
    return obj


def _scan_opcodes(data: bytes, source: str) -> None:
    """Read the opcodes without running any, and refuse what the C unpickler would act on before the allow-list
    is asked: a memo index far beyond the entries so far (``LONG_BINPUT 2**31-1``, 6 bytes, makes it allocate and
    zero a 16 GiB table), a protocol newer than this Python's, and truncated or garbled streams."""
    ops = 0
    try:
        for op, arg, _ in pickletools.genops(data):
            ops += 1
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and not (isinstance(arg, int) and 0 <= arg <= ops):
                raise UnsafePickleError(f"{source}: memo index {arg!r} after {ops} opcodes; a pickler numbers its "
                                        "memo entries in order, so only a hostile file jumps ahead (the unpickler "
                                        "would allocate a table of that size)")
            if op.name == "PROTO" and not 0 <= arg <= pickle.HIGHEST_PROTOCOL:
                raise CorruptPickleError(f"{source}: pickle protocol {arg} is not supported (this Python reads "
                                         f"0-{pickle.HIGHEST_PROTOCOL})")
    except ValueError as e:  # pickletools' word for truncated data, unknown opcodes and bad arguments
        if isinstance(e, DataError):
            raise
        raise CorruptPickleError(f"{source}: corrupt pickle: {e}") from None
    if not ops:
        raise CorruptPickleError(f"{source}: empty file, not a pickle")


def safe_loads_pkl(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle bytes with the restricted allow-list (see :func:`safe_load_pkl`)."""
    _scan_opcodes(data, source)
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except DataError:
        raise
    except Exception as e:  # garbage that parses as opcodes surfaces as many exception types
        raise CorruptPickleError(f"{source}: corrupt pickle: {type(e).__name__}: {str(e)[:200]}") from None


def safe_load_pkl(path: str | Path) -> Any:
    """Load a pickle that may only contain numpy arrays and plain containers.

    Args:
        path: the ``.pkl`` file.

    Returns:
        The unpickled object (typically one ``np.ndarray``).

    Raises:
        UnsafePickleError: the file names a global outside the allow-list (nothing from it was called), or uses
            an allowed one, the memo or nesting in a way no array pickle does.
        CorruptPickleError: the file is empty, truncated or corrupt.
        (Both are :class:`~gaitedge.data.errors.DataError`, a ``ValueError``, and ``pickle.UnpicklingError``.)
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
