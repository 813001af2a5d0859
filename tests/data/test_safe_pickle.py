"""The restricted unpickler against resource tricks: hostile pickles written opcode by opcode.

Each hostile file is a few dozen bytes that, under a plain allow-list of callables, would make the loader allocate
hundreds of megabytes (or hand back uninitialised memory as silhouettes). The loader must refuse them before the
allocation, so every case also checks time and traced memory.
"""

import io
import json
import pickle
import pickletools
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from gaitedge.data import UnsafePickleError
from gaitedge.data.formats.safe_pickle import safe_loads_pkl

BIG = 300_000_000  # bytes a hostile 40-byte file asks for


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _int(n: int) -> bytes:
    return pickle.BININT + struct.pack("<i", n)


def _str(s: str) -> bytes:
    b = s.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(b)) + b


def _bytes(b: bytes) -> bytes:
    return pickle.BINBYTES + struct.pack("<I", len(b)) + b


def _call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)`` as MARK args TUPLE REDUCE."""
    return func + pickle.MARK + b"".join(args) + pickle.TUPLE + pickle.REDUCE


def _pickle(body: bytes) -> bytes:
    data = pickle.PROTO + b"\x03" + body + pickle.STOP
    pickletools.dis(data, out=io.StringIO())  # well-formed opcode stream: only the content is hostile
    return data


def _dtype(code: str) -> bytes:
    return _call(_global("numpy", "dtype"), _str(code), pickle.NEWFALSE, pickle.NEWTRUE)


def _refused_cheaply(data: bytes, match: str = "hostile.pkl") -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(UnsafePickleError, match=match):
            safe_loads_pkl(data, "hostile.pkl")
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0, f"refusal took {elapsed:.2f}s"
    assert peak < 10 * 2**20, f"refusal allocated {peak / 2**20:.0f} MiB"


HOSTILE = {
    # numpy.ndarray((37_500_000,)): 300 MB of uninitialised float64 handed back as data
    "ndarray_call": _call(_global("numpy", "ndarray"), pickle.MARK + _int(BIG // 8) + pickle.TUPLE),
    # numpy's own reconstructor asked for a big shape, and never given its data (no BUILD)
    "reconstruct_shape": _call(_global("numpy._core.multiarray", "_reconstruct"), _global("numpy", "ndarray"),
                               pickle.MARK + _int(BIG) + pickle.TUPLE, _bytes(b"b")),
    "reconstruct_shape_numpy1": _call(_global("numpy.core.multiarray", "_reconstruct"), _global("numpy", "ndarray"),
                                      pickle.MARK + _int(BIG) + pickle.TUPLE, _bytes(b"b")),
    # a scalar of a 300 MB void dtype with no data: numpy zero-fills it
    "scalar_no_data": _call(_global("numpy._core.multiarray", "scalar"), _dtype(f"V{BIG}")),
    "bytes_n": _call(_global("builtins", "bytes"), _int(BIG)),
    "bytes_n_protocol2": _call(_global("__builtin__", "bytes"), _int(BIG)),
    "bytearray_n": _call(_global("builtins", "bytearray"), _int(BIG)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pickle_refused_before_allocating(name):
    data = _pickle(HOSTILE[name])
    assert len(data) < 80
    _refused_cheaply(data)


def test_reconstructed_array_without_data_refused():
    # The placeholder numpy's pickles start from ((0,), int8), left without the BUILD that gives it its data.
    body = _call(_global("numpy._core.multiarray", "_reconstruct"), _global("numpy", "ndarray"),
                 pickle.MARK + _int(0) + pickle.TUPLE, _bytes(b"b"))
    _refused_cheaply(_pickle(body), "data")
    # The same inside a list next to a real array.
    real = pickle.dumps(np.arange(4, dtype=np.uint8), protocol=3)[2:-1]  # without PROTO and STOP
    _refused_cheaply(_pickle(pickle.MARK + real + body + pickle.LIST), "data")


def test_array_state_must_carry_matching_data():
    placeholder = _call(_global("numpy._core.multiarray", "_reconstruct"), _global("numpy", "ndarray"),
                        pickle.MARK + _int(0) + pickle.TUPLE, _bytes(b"b"))

    def state(shape: int, dtype: bytes, raw: bytes) -> bytes:
        return (placeholder + pickle.MARK + _int(1) + pickle.MARK + _int(shape) + pickle.TUPLE + dtype
                + pickle.NEWFALSE + raw + pickle.TUPLE + pickle.BUILD)

    ok = safe_loads_pkl(_pickle(state(3, _dtype("u1"), _bytes(b"abc"))))
    assert type(ok) is np.ndarray and ok.tolist() == [97, 98, 99]
    with pytest.raises(pickle.UnpicklingError):  # 3 elements, 2 bytes of data
        safe_loads_pkl(_pickle(state(3, _dtype("u1"), _bytes(b"ab"))))
    # a huge shape with a few bytes of data
    _refused_cheaply(_pickle(state(BIG, _dtype("u1"), _bytes(b"ab"))))
    # An object array's "data" is a list of arbitrary objects, never what a dataset holds; and numpy's
    # __setstate__ trusts the list's length (a short list reads past it: a crash, or heap bytes as elements).
    # Run in a child process so such a crash cannot take the test session down.
    for items in (pickle.EMPTY_LIST, pickle.MARK + _int(1) + pickle.LIST):
        data = _pickle(state(2, _dtype("O"), items))
        code = ("import sys; from gaitedge.data.formats.safe_pickle import safe_loads_pkl, UnsafePickleError\n"
                "try:\n    safe_loads_pkl(bytes.fromhex(sys.argv[1]))\nexcept UnsafePickleError as e:\n"
                "    print('refused:', e)\nelse:\n    print('loaded')\n")
        proc = subprocess.run([sys.executable, "-c", code, data.hex()], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "refused:" in proc.stdout and "object" in proc.stdout, (
            proc.returncode, proc.stdout, proc.stderr[-2000:])


def test_codecs_encode_only_latin1():
    with pytest.raises(UnsafePickleError, match="latin"):
        safe_loads_pkl(_pickle(_call(_global("_codecs", "encode"), _bytes(b"x" * 10), _str("zlib_codec"))))


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_real_array_pickles_still_load(protocol):
    arrays = [np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.asfortranarray(np.ones((3, 2), np.float32)),
              np.zeros((0, 64, 44), np.uint8), np.arange(3, dtype=">f8"), np.array([True, False])]
    obj = {"one": arrays[0], "list": arrays, "tuple": (arrays[1], 2.5), "scalar": np.float32(1.5),
           "set": {1, 2}, "frozen": frozenset({"a"}), "raw": b"", "ba": bytearray(b"xy")}
    out = safe_loads_pkl(pickle.dumps(obj, protocol=protocol))
    assert type(out["one"]) is np.ndarray
    np.testing.assert_array_equal(out["one"], arrays[0])
    for a, b in zip(out["list"], arrays):
        # numpy itself unpickles a big-endian array in native order at protocols 0-4
        assert type(a) is np.ndarray and a.dtype.name == b.dtype.name and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert out["list"][1].flags.f_contiguous
    assert type(out["tuple"][0]) is np.ndarray and out["tuple"][1] == 2.5
    assert out["scalar"] == np.float32(1.5) and out["set"] == {1, 2} and out["frozen"] == frozenset({"a"})
    assert out["raw"] == b"" and out["ba"] == bytearray(b"xy")
    # the same array object twice stays one object
    twice = safe_loads_pkl(pickle.dumps([arrays[0], arrays[0]], protocol=protocol))
    assert twice[0] is twice[1]


def test_every_hostile_pickle_is_a_one_line_data_error():
    # in a child process: one of them crashed the interpreter before the fix (numpy's object-state __setstate__)
    code = (
        "import json, pickle\n"
        "from tests.hostile._pickles import hostile_pickles\n"
        "from gaitedge.data.errors import DataError\n"
        "from gaitedge.data.formats.safe_pickle import safe_loads_pkl\n"
        "from gaitedge.data.formats.schema import check_array\n"
        "out = {}\n"
        "for name, data in hostile_pickles().items():\n"
        "    try:\n"
        "        check_array(safe_loads_pkl(data, name + '.pkl'), 'aligned_sils', name + '.pkl')\n"
        "        out[name] = 'loaded'\n"
        "    except DataError as e:\n"
        "        ok = str(e).startswith(name + '.pkl: ') and '\\n' not in str(e)\n"
        "        out[name] = 'ok' if ok and isinstance(e, ValueError) else repr(e)\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out) >= 30 and all(v == "ok" for v in out.values()), {k: v for k, v in out.items() if v != "ok"}


def test_refusals_keep_the_unpickling_error_type():
    from gaitedge.data import CorruptPickleError, DataError

    with pytest.raises(UnsafePickleError) as unsafe:
        safe_loads_pkl(b"cos\nsystem\n(S'echo'\ntR.", "a.pkl")
    with pytest.raises(CorruptPickleError) as corrupt:
        safe_loads_pkl(b"\x80\x04N", "b.pkl")
    for e in (unsafe.value, corrupt.value):
        assert isinstance(e, DataError) and isinstance(e, ValueError) and isinstance(e, pickle.UnpicklingError)
