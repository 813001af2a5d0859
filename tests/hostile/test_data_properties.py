"""Property tests of the readers: any mutation of a valid array pickle, and any JSON value in an ``index.json``
field, is either read correctly or refused with a DataError; no other exception, crash or hang."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

from gaitedge.data.errors import DataError  # noqa: E402
from gaitedge.data.formats import native  # noqa: E402
from gaitedge.data.formats.safe_pickle import safe_loads_pkl  # noqa: E402

ARRAY = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
PICKLES = [pickle.dumps(ARRAY, protocol=p) for p in range(6)]


@st.composite
def mutated_pickles(draw):
    data = bytearray(draw(st.sampled_from(PICKLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


@given(mutated_pickles())
def test_mutated_array_pickles_load_or_are_refused(data):
    try:
        out = safe_loads_pkl(data, "mutated.pkl")
    except DataError as e:
        assert str(e).startswith("mutated.pkl: ") and "\n" not in str(e)
        return
    if isinstance(out, np.ndarray):
        assert out.dtype.kind in "biufcSUV" and type(out) is np.ndarray  # a plain array, never a placeholder


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                         max_size=3), max_leaves=8)
FIELDS = ["frames", "id", "partition", "modalities", "meta", "sequences", "TRAIN_SET"]


@given(st.sampled_from(FIELDS), JSON_VALUES)
def test_any_index_field_value_is_read_or_refused(tmp_path_factory, field, value):
    root = tmp_path_factory.mktemp("idx")
    idx = {"format": native.FORMAT_NAME, "version": native.VERSION, "modalities": ["aligned_sils"],
           "partition": {"TRAIN_SET": ["001"], "TEST_SET": []}, "meta": {},
           "sequences": [{"id": "001", "type": "nm-01", "view": "090", "frames": 4}]}
    if field in ("frames", "id"):
        idx["sequences"][0][field] = value
    elif field == "TRAIN_SET":
        idx["partition"]["TRAIN_SET"] = value
    else:
        idx[field] = value
    (root / "index.json").write_text(json.dumps(idx))
    try:
        got = native.read_index(root)
    except DataError as e:
        assert str(root / "index.json") in str(e) and "\n" not in str(e)
        return
    for s in got["sequences"]:  # what is accepted is what the readers rely on
        assert type(s["frames"]) is int and s["frames"] >= 0 and isinstance(s["id"], str)
    if got["partition"] is not None:
        assert all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in got["partition"].values())
