"""On-disk formats: native and OpenGait round trips, the restricted unpickler, partitions, corrupt files."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from gaitedge.data import GaitDataset, UnsafePickleError, generate_synthgait, load_partition, safe_load_pkl
from gaitedge.data.formats import native, opengait
from gaitedge.data.synth import SynthGait

KW = dict(subjects=3, seed=1, views=(0, 90), frames=5, conditions={"nm": 2, "bg": 1, "cl": 1}, size=32)


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    nat = base / "native"
    og = base / "opengait"
    generate_synthgait(nat, "indoor", fmt="native", **KW)
    generate_synthgait(og, "indoor", fmt="opengait", **KW)
    return nat, og


def test_native_and_opengait_round_trip_match_generator(roots):
    nat, og = roots
    g = SynthGait("indoor", **KW)
    mods = ("rgbs", "sils", "ratios", "aligned_sils")
    a = GaitDataset(nat, modalities=mods, split=None)
    b = GaitDataset(og, modalities=mods, split=None)
    assert a.keys == b.keys == sorted(g.keys())
    for i in (0, len(a) - 1):
        (xa, la, ta, va), (xb, *_) = a[i], b[i]
        ref = g.sequence(la, ta, va)
        for m in mods:
            assert isinstance(xa[m], np.memmap)  # native files are memory-mapped
            np.testing.assert_array_equal(xa[m], ref[m])
            np.testing.assert_array_equal(xb[m], ref[m])


def test_opengait_file_names_and_partition(roots):
    _, og = roots
    names = sorted(os.listdir(og / "001" / "nm-01" / "090"))
    assert names == ["090-aligned-sils.pkl", "090-ratios.pkl", "090-rgbs.pkl", "090-sils.pkl"]
    part = load_partition(og / "partition.json")
    assert part == {"TRAIN_SET": ["001", "002"], "TEST_SET": ["003"]}
    ds = GaitDataset(og, modalities=("aligned_sils",), split="TEST_SET", partition=og / "partition.json")
    assert ds.label_set == ["003"]


def test_plain_casiab_layout(tmp_path):
    sils = np.zeros((4, 64, 64), np.uint8)
    sils[:, 10:50, 25:40] = 255
    opengait.write_sequence(tmp_path, ("001", "nm-01", "000"), {"aligned_sils": sils}, layout="casiab")
    assert os.listdir(tmp_path / "001" / "nm-01" / "000") == ["000.pkl"]
    ds = GaitDataset(tmp_path, modalities=("aligned_sils",), split=None)
    x, label, typ, view = ds[0]
    assert (label, typ, view) == ("001", "nm-01", "000") and x["aligned_sils"].shape == (4, 64, 64)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_safe_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "000-sils.pkl"
    path.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(UnsafePickleError, match="system"):
        safe_load_pkl(path)
    assert not marker.exists()
    # Hidden inside a container next to a legitimate array, and via builtins.eval.
    path.write_bytes(pickle.dumps({"x": np.arange(3), "y": [_Evil(marker)]}))
    with pytest.raises(UnsafePickleError):
        safe_load_pkl(path)
    path.write_bytes(b"cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR.")
    with pytest.raises(UnsafePickleError, match="eval"):
        safe_load_pkl(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_safe_unpickler_accepts_arrays_and_containers(tmp_path, protocol):
    obj = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": [1.5, (2, "x")], "c": np.float32(2.0)}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = safe_load_pkl(path)
    np.testing.assert_array_equal(out["a"], obj["a"])
    assert out["b"] == obj["b"] and out["c"] == obj["c"]


def test_corrupt_files_name_the_file(tmp_path, roots):
    nat, og = roots
    import shutil

    bad = tmp_path / "nat"
    shutil.copytree(nat, bad)
    seq = bad / "001" / "nm-01" / "000"
    np.save(seq / "ratios.npy", np.ones(4, np.float32))  # 4 frames instead of 5
    ds = GaitDataset(bad, modalities=("rgbs", "ratios"), split=None)
    i = ds.keys.index(("001", "nm-01", "000"))
    with pytest.raises(ValueError, match="frame counts"):
        ds[i]
    np.save(seq / "ratios.npy", np.array(["a"] * 5))  # wrong dtype
    with pytest.raises(ValueError, match="ratios.npy"):
        ds[i]
    (seq / "ratios.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        ds[i]
    os.remove(seq / "ratios.npy")
    with pytest.raises(FileNotFoundError, match="missing modality 'ratios'"):
        ds[i]
    np.save(seq / "sils.npy", np.zeros((5, 3), np.uint8))  # wrong shape
    with pytest.raises(ValueError, match="sils.npy"):
        GaitDataset(bad, modalities=("sils",), split=None)[i]
    bad_og = tmp_path / "og"
    shutil.copytree(og, bad_og)
    pkl = bad_og / "001" / "nm-01" / "000" / "000-rgbs.pkl"
    pkl.write_bytes(pickle.dumps(np.zeros((5, 3, 32, 32), np.uint8))[:40])
    with pytest.raises(pickle.UnpicklingError, match="000-rgbs.pkl"):
        GaitDataset(bad_og, modalities=("rgbs",), split=None)[i]
    (bad / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="index.json"):
        GaitDataset(bad, split=None)
    (tmp_path / "p.json").write_text(json.dumps({"TRAIN": []}))
    with pytest.raises(ValueError, match="TRAIN_SET"):
        load_partition(tmp_path / "p.json")


def test_native_index_records_protocols(roots):
    index = native.read_index(roots[0])
    assert index["partition"]["TRAIN_SET"] == ["001", "002"]
    assert index["meta"]["protocols"]["casia-b"]["gallery"] == ["nm-01"]
    assert index["meta"]["protocols"]["ttg-200"]["gallery"] == ["nm-01"]
    assert len(index["sequences"]) == 3 * 4 * 2


def _one_sequence_root(root, frames=30):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (frames, 64, 64), dtype=np.uint8)
    key = ("001", "nm-01", "000")
    native.write_sequence(root, key, {"aligned_sils": arr})
    native.write_index(root, [(key, frames)])
    return key, arr


def _edit_index(root, **fields):
    index = json.loads((root / "index.json").read_text())
    index["sequences"][0].update(fields)
    (root / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("how", ["absolute", "dotdot", "separator", "symlinked_folder", "symlinked_file"])
def test_native_ids_cannot_leave_the_root(tmp_path, how):
    root = tmp_path / "ds"
    key, _ = _one_sequence_root(root)
    secret = tmp_path / "outside" / "x" / "y" / "z"
    secret.mkdir(parents=True)
    np.save(secret / "aligned_sils.npy", np.full((30, 64, 64), 7, np.uint8))
    if how == "absolute":
        _edit_index(root, id=str(tmp_path / "outside" / "x"), type="y", view="z")
        bad_id = str(tmp_path / "outside" / "x")
    elif how == "dotdot":
        _edit_index(root, id="../outside/x", type="y", view="z")
        bad_id = "../outside/x"
    elif how == "separator":
        _edit_index(root, id="001", type="nm-01/../../../outside/x/y", view="z")
        bad_id = "001"
    elif how == "symlinked_folder":
        os.symlink(tmp_path / "outside" / "x", root / "002")
        _edit_index(root, id="002", type="y", view="z")
        bad_id = "002"
    else:
        target = root / "001" / "nm-01" / "000" / "aligned_sils.npy"
        target.unlink()
        os.symlink(secret / "aligned_sils.npy", target)
        bad_id = "001"
    with pytest.raises(ValueError, match="outside") as info:
        GaitDataset(root, modalities=("aligned_sils",), split=None)[0]
    assert bad_id in str(info.value)
    assert "index.json" in str(info.value) or "aligned_sils.npy" in str(info.value)


def test_native_symlinks_inside_the_root_are_fine(tmp_path):
    root = tmp_path / "ds"
    key, arr = _one_sequence_root(root)
    os.rename(root / "001", root / "store")
    os.symlink(root / "store", root / "001")
    np.testing.assert_array_equal(GaitDataset(root, modalities=("aligned_sils",), split=None)[0][0]["aligned_sils"],
                                  arr)


def test_truncated_npy_is_a_clean_error_not_sigbus(tmp_path):
    """A file cut while mapped used to kill the process with SIGBUS when the frames were read."""
    root = tmp_path / "ds"
    key, _ = _one_sequence_root(root)
    path = root.joinpath(*key, "aligned_sils.npy")
    code = f"""
import os
from gaitedge.data import GaitCollate, GaitDataset
ds = GaitDataset({str(root)!r}, modalities=("aligned_sils",), split=None)
item = ds[0]  # the file is mapped now
os.truncate({str(path)!r}, 200)  # ... and cut, as by a rewrite or a full disk during a run
try:
    GaitCollate(ds.label_set, "all_ordered")([item])
except ValueError as e:
    print("MAPPED:", e)
else:
    print("MAPPED: no error")
try:
    ds[0]
except ValueError as e:
    print("REOPENED:", e)
else:
    print("REOPENED: no error")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"child died (rc {proc.returncode}; -7 is SIGBUS): {proc.stderr[-2000:]}"
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    for when in ("MAPPED", "REOPENED"):
        assert str(path) in lines[when] and "truncated" in lines[when], proc.stdout
    assert "122880" in lines["REOPENED"] and "200" in lines["REOPENED"]  # what the header promises, what is there


def test_rewriting_a_sequence_leaves_open_maps_intact(tmp_path):
    """Writers replace files instead of truncating them in place, so a reader's mapping keeps its bytes."""
    root = tmp_path / "ds"
    key, arr = _one_sequence_root(root)
    mapped = native.NativeStore(root).load(key, ("aligned_sils",))["aligned_sils"]
    assert isinstance(mapped, np.memmap)
    native.write_sequence(root, key, {"aligned_sils": 255 - arr})
    np.testing.assert_array_equal(mapped, arr)
    np.testing.assert_array_equal(native.NativeStore(root).load(key, ("aligned_sils",))["aligned_sils"], 255 - arr)
    assert sorted(os.listdir(root.joinpath(*key))) == ["aligned_sils.npy"]  # no temporary left behind


def test_generation_progress_is_logged_per_subject(tmp_path, caplog):
    with caplog.at_level("INFO", logger="gaitedge.data.synth.export"):
        generate_synthgait(tmp_path / "s", "indoor", subjects=2, seed=0, views=(0,), frames=2,
                           conditions={"nm": 1, "bg": 1, "cl": 1}, size=32, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "gaitedge.data.synth.export"]
    assert [line.split(":")[0] for line in lines] == ["subject 001", "subject 002"]
