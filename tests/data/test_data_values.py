"""Values inside data files: non-finite or out-of-range frames, and index.json / partition field types. Each is
refused when read, with a DataError naming the file, the sequence or field, and (for frames) the first bad frame."""

import json
import math

import numpy as np
import pytest

from gaitedge.data import GaitDataset
from gaitedge.data.errors import DataError
from gaitedge.data.formats import load_partition, native, opengait, save_pkl

KEY = ("001", "nm-01", "090")


def _good():
    sils = np.zeros((4, 64, 44), np.float32)
    sils[:, 10:50, 15:30] = 255.0
    return {"aligned_sils": sils, "ratios": np.full(4, 0.4, np.float32)}


def _poison(modality, value, frame=2):
    arrays = _good()
    arrays[modality] = arrays[modality].copy()
    arrays[modality].reshape(len(arrays[modality]), -1)[frame, 0] = value
    return arrays


BAD_VALUES = [("aligned_sils", math.nan, "NaN"), ("aligned_sils", math.inf, "infinite"),
              ("aligned_sils", -math.inf, "infinite"), ("aligned_sils", 1e30, "out-of-range"),
              ("aligned_sils", -1.0, "out-of-range"), ("aligned_sils", 256.5, "out-of-range"),
              ("ratios", math.nan, "NaN"), ("ratios", math.inf, "infinite")]


def _write_native(root, arrays):
    folder = root.joinpath(*KEY)
    folder.mkdir(parents=True)
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr)
    index = {"format": native.FORMAT_NAME, "version": native.VERSION, "modalities": sorted(arrays),
             "partition": None, "meta": {}, "sequences": [{"id": KEY[0], "type": KEY[1], "view": KEY[2],
                                                           "frames": 4}]}
    (root / "index.json").write_text(json.dumps(index))
    return folder


@pytest.mark.parametrize("modality, value, kind", BAD_VALUES)
@pytest.mark.parametrize("fmt", ["native", "opengait"])
def test_bad_frame_values_are_refused_naming_file_sequence_and_frame(fmt, modality, value, kind, tmp_path):
    arrays = _poison(modality, value)
    if fmt == "native":
        folder = _write_native(tmp_path, arrays)
        bad_file = folder / f"{modality}.npy"
    else:
        folder = tmp_path.joinpath(*KEY)
        folder.mkdir(parents=True)
        for name, arr in arrays.items():
            save_pkl(folder / f"090-{name.replace('_', '-')}.pkl", arr)
        bad_file = folder / f"090-{modality.replace('_', '-')}.pkl"
    ds = GaitDataset(tmp_path, modalities=("aligned_sils", "ratios"), split=None)
    with pytest.raises(DataError) as info:
        ds[0]
    msg = str(info.value)
    assert str(bad_file) in msg and "001/nm-01/090" in msg and "frame 2" in msg and kind in msg


def test_writers_refuse_bad_values_too(tmp_path):
    with pytest.raises(DataError, match="NaN"):
        native.write_sequence(tmp_path, KEY, _poison("aligned_sils", math.nan))
    with pytest.raises(DataError, match="infinite"):
        opengait.write_sequence(tmp_path, KEY, _poison("ratios", math.inf))


def test_good_float_and_uint8_data_load(tmp_path):
    _write_native(tmp_path / "a", _good())
    assert GaitDataset(tmp_path / "a", modalities=("aligned_sils",), split=None)[0][0]["aligned_sils"].max() == 255
    ints = {"aligned_sils": np.full((4, 64, 44), 300, np.int16), "ratios": _good()["ratios"]}
    _write_native(tmp_path / "b", ints)
    with pytest.raises(DataError, match="out-of-range"):
        GaitDataset(tmp_path / "b", modalities=("aligned_sils",), split=None)[0]


def _index(**changes):
    idx = {"format": native.FORMAT_NAME, "version": native.VERSION, "modalities": ["aligned_sils"],
           "partition": {"TRAIN_SET": ["001"], "TEST_SET": []}, "meta": {},
           "sequences": [{"id": KEY[0], "type": KEY[1], "view": KEY[2], "frames": 4}]}
    seq = changes.pop("frames", None)
    if seq is not None:
        idx["sequences"][0]["frames"] = seq[0]
    idx.update(changes)
    return json.dumps(idx)


# (name, index.json text, the field the error must name)
INDEX_CASES = [
    ("frames_list", _index(frames=([4],)), "sequences[0].frames"),
    ("frames_null", _index(frames=(None,)), "sequences[0].frames"),
    ("frames_1e400", _index(frames=(0,)).replace('"frames": 0', '"frames": 1e400'), "sequences[0].frames"),
    ("frames_negative", _index(frames=(-4,)), "sequences[0].frames"),
    ("frames_bool", _index(frames=(True,)), "sequences[0].frames"),
    ("frames_string", _index(frames=("4",)), "sequences[0].frames"),
    ("frames_float", _index(frames=(4.5,)), "sequences[0].frames"),
    ("frames_NaN_constant", _index(frames=(0,)).replace('"frames": 0', '"frames": NaN'), "NaN"),
    ("frames_5000_digits", _index(frames=(0,)).replace('"frames": 0', '"frames": ' + "9" * 5000), "corrupt index"),
    ("partition_values_not_lists", _index(partition={"TRAIN_SET": "001", "TEST_SET": []}), "partition.TRAIN_SET"),
    ("partition_ids_dicts", _index(partition={"TRAIN_SET": [{"a": 1}], "TEST_SET": []}), "partition.TRAIN_SET"),
    ("partition_not_object", _index(partition=[1, 2]), "'partition'"),
    ("modalities_not_list", _index(modalities="aligned_sils"), "'modalities'"),
    ("meta_list", _index(meta=[1]), "'meta'"),
    ("sequences_object", _index(sequences={"a": 1}), "'sequences'"),
    ("deep_nesting", _index(meta=0).replace('"meta": 0', '"meta": ' + "[" * 100_000 + "]" * 100_000), "deep"),
    ("not_utf8", None, "corrupt index"),
]


@pytest.mark.parametrize("name, text, field", INDEX_CASES, ids=[c[0] for c in INDEX_CASES])
def test_index_field_types_are_refused_naming_file_and_field(name, text, field, tmp_path):
    _write_native(tmp_path, {"aligned_sils": _good()["aligned_sils"]})
    path = tmp_path / "index.json"
    if text is None:
        path.write_bytes(b'{"format": "\xff\xfe"}')
    else:
        path.write_text(text)
    with pytest.raises(DataError) as info:
        GaitDataset(tmp_path, modalities=("aligned_sils",), split="TRAIN_SET")
    msg = str(info.value)
    assert str(path) in msg and field in msg and "\n" not in msg


@pytest.mark.parametrize("text, field", [
    ('{"TRAIN_SET": "001", "TEST_SET": []}', "TRAIN_SET"),
    ('{"TRAIN_SET": [], "TEST_SET": [[1]]}', "TEST_SET"),
    ('{"TRAIN_SET": [], "TEST_SET": ' + "[" * 50_000 + "]" * 50_000 + "}", "deep"),
    ('{"TRAIN_SET": [NaN], "TEST_SET": []}', "NaN"),
])
def test_partition_json_field_types(text, field, tmp_path):
    path = tmp_path / "partition.json"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_partition(path)
    assert str(path) in str(info.value) and field in str(info.value)
