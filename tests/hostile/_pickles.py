"""Hostile OpenGait-format pickles, built opcode by opcode: code execution, allocation and crash tricks, memo and
nesting tricks, and broken streams. Each must be refused by the restricted unpickler with a one-line error."""

from __future__ import annotations

import pickle
import struct

import numpy as np

P4 = b"\x80\x04"
P2 = b"\x80\x02"
CORE = "numpy._core" if hasattr(np, "_core") else "numpy.core"


def _su(text: str) -> bytes:  # SHORT_BINUNICODE
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _global4(module: str, name: str) -> bytes:  # STACK_GLOBAL
    return _su(module) + _su(name) + b"\x93"


def _int(n: int) -> bytes:  # LONG1
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _dtype(code: str) -> bytes:  # numpy.dtype(code, False, True)
    return _global4("numpy", "dtype") + _su(code) + b"\x89\x88\x87R"


def _good_array() -> np.ndarray:
    a = np.zeros((4, 64, 44), np.uint8)
    a[:, 10:50, 15:30] = 255
    return a


def _self_referencing_list() -> list:
    out: list = [_good_array()]
    out.append(out)
    return out


def hostile_pickles() -> dict[str, bytes]:
    good = pickle.dumps(_good_array(), protocol=4)
    good5 = pickle.dumps(_good_array(), protocol=5)
    frombuf = _global4(f"{CORE}.numeric", "_frombuffer") + b"(" + b"\x96" + struct.pack("<Q", 3) + b"abc" \
        + _dtype("u1") + _int(3) + b"\x85" + _su("C") + b"tR"  # _frombuffer(bytearray(b"abc"), u1, (3,), "C")
    cases = {
        # code execution: every way a pickle names a callable
        "global_os_system": b"cos\nsystem\n(S'echo pwned'\ntR.",
        "stack_global_eval": P4 + _global4("builtins", "eval") + _su("1+1") + b"\x85R.",
        "inst_opcode": b"(S'echo pwned'\nios\nsystem\n.",
        "obj_opcode": P2 + b"(cposix\nsystem\nS'echo pwned'\no.",
        "newobj_ndarray": P4 + _global4("numpy", "ndarray") + _int(1 << 40) + b"\x85\x85\x81.",
        "subprocess_via_getattr": P4 + _global4("builtins", "getattr") + _global4("os", "system") + b"\x85R.",
        "ext_registry": P2 + b"\x82\x01.",  # EXT1: a global looked up in copyreg's extension registry
        "persistent_id": P2 + b"K\x01Q.",  # BINPERSID 1: resolved by a loader hook, which dataset files never need
        # allocation tricks through allowed globals
        "ndarray_direct_call": P4 + _global4("numpy", "ndarray") + _int(1 << 40) + b"\x85\x85R.",
        "reconstruct_huge_shape": P4 + _global4(f"{CORE}.multiarray", "_reconstruct") + _global4("numpy", "ndarray")
        + _int(1 << 40) + b"\x85" + b"C\x01b\x87R.",
        "bytes_of_int": P4 + _global4("builtins", "bytes") + _int(1 << 40) + b"\x85R.",
        "bytearray_of_int": P4 + _global4("builtins", "bytearray") + _int(1 << 34) + b"\x85R.",
        "codecs_other_encoding": P4 + _global4("_codecs", "encode") + _su("x" * 10) + _su("zlib_codec") + b"\x86R.",
        "scalar_short_bytes": P4 + _global4(f"{CORE}.multiarray", "scalar") + _dtype("f8") + b"C\x02ab\x86R.",
        "object_array": pickle.dumps(np.array([1, "a", None], dtype=object), protocol=4),
        "frombuffer_object_dtype": P4 + _global4(f"{CORE}.numeric", "_frombuffer") + b"(C\x08abcdefgh"
        + _dtype("O") + _int(1) + b"\x85" + _su("C") + b"tR.",
        # crash: numpy's own __setstate__ on a finished array trusts an object state's list length
        "build_object_state_on_array": P4 + frombuf + b"(K\x01K\x03\x85" + _dtype("O") + b"\x89]K\x01at" + b"b.",
        "placeholder_short_data": P4 + _global4(f"{CORE}.multiarray", "_reconstruct") + _global4("numpy", "ndarray")
        + _int(0) + b"\x85C\x01b\x87R" + b"(K\x01K\x0a\x85" + _dtype("u1") + b"\x89C\x02abtb.",
        "placeholder_never_filled": P4 + _global4(f"{CORE}.multiarray", "_reconstruct") + _global4("numpy", "ndarray")
        + _int(0) + b"\x85" + b"C\x01b\x87R.",
        # memo and nesting
        "memo_index_2e31": P4 + b"]r\xff\xff\xff\x7f.",
        "memo_get_missing": P4 + b"j\x10\x00\x00\x00.",
        "deep_nesting_stack": P4 + b"]" * 200_000 + b"a" * 199_999 + b".",
        "self_reference_with_array": pickle.dumps(_self_referencing_list(), protocol=4),
        # broken streams
        "truncated_half": good[: len(good) // 2],
        "truncated_last_byte": good[:-1],
        "protocol_9": b"\x80\x09N.",
        "empty_file": b"",
        "text_file": b"this is not a pickle\n",
        "garbage_after_valid_opcode": P4 + b"\xff\xfe\xfd",
        "protocol5_out_of_band": good5.replace(b"\x96", b"\x97", 1),  # NEXT_BUFFER without buffers
        # valid pickles whose content is not one array
        "dict_not_array": pickle.dumps({"sils": _good_array()}, protocol=4),
        "int_not_array": pickle.dumps(12345, protocol=4),
        "wrong_dtype_strings": pickle.dumps(np.array(["a", "b"]), protocol=4),
    }
    # a constant-stack chain of nested lists, built with the memo: [ [ [ ... ] ] ] 100,000 deep
    chain = bytearray(P4 + b"]r\x00\x00\x00\x00")
    for i in range(1, 100_000):
        chain += b"]r" + struct.pack("<I", i) + b"j" + struct.pack("<I", i - 1) + b"j" + struct.pack("<I", i) + b"a0"
    cases["deep_nesting_memo"] = bytes(chain + b"j\x00\x00\x00\x00.")
    # "billion laughs": 40 levels of a list holding the level below 10 times (10**40 leaves if walked naively)
    laughs = bytearray(P4 + b"]r\x00\x00\x00\x00")
    for i in range(1, 40):
        laughs += b"]r" + struct.pack("<I", i) + b"(" + (b"j" + struct.pack("<I", i - 1)) * 10 + b"e0"
    cases["billion_laughs"] = bytes(laughs + b"j" + struct.pack("<I", 39) + b".")
    return cases
