"""`gaitedge pretreat --rgb`: SynthGait written as files comes back as its own four modalities (exactly from crops,
within stated tolerances from rebuilt full frames, PNG or video), and each kind of bad input fails alone, named."""

import shutil

import numpy as np
import pytest

from gaitedge.cli import main
from gaitedge.data import SynthGait
from gaitedge.data.formats import open_store
from gaitedge.data.pretreat_rgb import pretreat_rgb_folders
from gaitedge.data.synth.files import write_rgb_files

pytest.importorskip("cv2")
SIZE = 64
MODALITIES = ("rgbs", "sils", "ratios", "aligned_sils")


@pytest.fixture(scope="module")
def synth():
    return SynthGait("indoor", subjects=2, views=(0, 90), frames=6, size=SIZE, conditions={"nm": 1, "cl": 1})


def _errors(synth, root):
    store = open_store(root)
    assert store.keys == sorted(synth.keys())
    err = {k: [] for k in MODALITIES}
    for key in synth.keys():
        ref, got = synth.sequence(*key), store.load(key, MODALITIES)
        err["rgbs"].append(np.abs(got["rgbs"].astype(int) - ref["rgbs"]).mean())  # grey levels of 255
        err["sils"].append(((got["sils"] > 0) != (ref["sils"] > 0)).mean())  # fraction of pixels
        err["ratios"].append(np.abs(got["ratios"] - ref["ratios"]).max())
        err["aligned_sils"].append(np.abs(got["aligned_sils"].astype(int) - ref["aligned_sils"]).mean())
    return {k: max(v) for k, v in err.items()}


def test_crops_round_trip_exactly(synth, tmp_path):
    write_rgb_files(tmp_path / "in", synth, "crops")
    info = pretreat_rgb_folders(tmp_path / "in", tmp_path / "out", "crops", size=SIZE, workers=1, fmt="native")
    assert info["sequences"] == len(synth.keys()) and not info["failed"] and not info["notes"]
    assert _errors(synth, tmp_path / "out") == {k: 0 for k in MODALITIES}


# Rebuilt full frames resample every crop twice (crop -> box in the frame -> crop) and round each box width to a
# pixel, so: ratios within half a pixel of the box height, RGB within several grey levels (the crops carry sensor
# noise of sigma 2-7, which a resampling does not reproduce), a few % of silhouette pixels flipped at the edges.
# Lossy MPEG-4 (mp4v) adds about 2.5 grey levels; lossless FFV1 adds nothing.
TOLERANCE = {"rgbs": 9.0, "sils": 0.04, "ratios": 0.5 / SIZE + 1e-6, "aligned_sils": 9.0}


@pytest.mark.parametrize("video, boxes, rgb_tol", [(None, True, 9.0), (None, False, 9.0), ("mkv", True, 9.0),
                                                   ("mp4", True, 12.0)])
def test_full_frames_round_trip_within_tolerance(synth, tmp_path, video, boxes, rgb_tol):
    write_rgb_files(tmp_path / "in", synth, "frames", video=video)
    if not boxes:  # masks only: the box is the mask's tight box
        for p in (tmp_path / "in").glob("*/*/*/boxes.txt"):
            p.unlink()
    info = pretreat_rgb_folders(tmp_path / "in", tmp_path / "out", "frames", size=SIZE, workers=1, fmt="native")
    assert not info["failed"] and not info["dropped"]
    err = _errors(synth, tmp_path / "out")
    tol = dict(TOLERANCE, rgbs=rgb_tol)
    assert all(err[k] <= tol[k] for k in MODALITIES), err


def test_boxes_without_masks_give_rgbs_and_ratios(synth, tmp_path):
    write_rgb_files(tmp_path / "in", synth, "frames", keys=synth.keys()[:1])
    shutil.rmtree(next((tmp_path / "in").glob("*/*/*/masks")))
    pretreat_rgb_folders(tmp_path / "in", tmp_path / "out", "frames", size=SIZE, workers=1, fmt="native")
    assert open_store(tmp_path / "out").modalities == ("ratios", "rgbs")


def test_bad_inputs_fail_alone_with_the_file_named(synth, tmp_path, capsys):
    root = tmp_path / "in"
    keys = synth.keys()
    write_rgb_files(root, synth, "frames", video="mkv")
    seq = [root.joinpath(*k) for k in keys]
    next(seq[0].glob("video.*")).write_bytes(b"\x00not a video" * 10)  # unreadable video
    from gaitedge.data.png import write_png

    write_png(seq[1] / "masks" / "0002.png", np.zeros((10, 10), np.uint8))  # mask not matching its frame
    for p in (seq[2] / "masks").glob("*.png"):  # every mask empty
        write_png(p, np.zeros_like(_grey(p)))
    write_png(seq[3] / "masks" / "0001.png", np.zeros_like(_grey(seq[3] / "masks" / "0001.png")))  # one empty
    (seq[4] / "boxes.txt").write_text("1 2 3\n")
    out = tmp_path / "out"
    assert main(["pretreat", "--rgb", "frames", "-i", str(root), "-o", str(out), "-n", "1", "--format", "native",
                 "--crop-size", str(SIZE)]) == 1
    err = capsys.readouterr().err
    assert f"{seq[0]}/video.mkv: not a readable video" in err
    assert f"{seq[1]}/masks/0002.png: mask is 10x10 but its frame is" in err
    assert f"{seq[2].relative_to(root)}" in err and "every mask of the sequence is empty" in err
    assert f"{seq[4]}/boxes.txt: line 1 must hold 4 finite numbers" in err
    store = open_store(out)
    assert store.keys == sorted([keys[3], *keys[5:]])  # the rest of the batch is written
    assert store.frames(keys[3]) == 5  # the empty-mask frame is dropped (and reported)


def _grey(path):
    from gaitedge.data.png import read_png

    return read_png(path)


def test_crops_without_ratios_say_so(synth, tmp_path):
    write_rgb_files(tmp_path / "in", synth, "crops", keys=synth.keys()[:1])
    next((tmp_path / "in").glob("crop_im/*/*/*/ratios.txt")).unlink()
    info = pretreat_rgb_folders(tmp_path / "in", tmp_path / "out", "crops", size=SIZE, workers=1, fmt="opengait")
    assert len(info["notes"]) == 1 and "no ratios.txt" in info["notes"][0]
    got = open_store(tmp_path / "out").load(synth.keys()[0], ("ratios",))["ratios"]
    assert np.all(got == 1.0)  # square crops: width/height 1, as the note warns


def test_a_sequence_over_the_memory_bound_is_refused_by_name(synth, tmp_path):
    from gaitedge.data.rgb_sources import SequenceError, read_rgb_sequence

    key = synth.keys()[0]
    write_rgb_files(tmp_path, synth, "frames", video="mkv", keys=[key])
    frame_bytes = read_rgb_sequence(tmp_path, key, "frames").frames[0].nbytes
    with pytest.raises(SequenceError, match=r"video\.mkv: the sequence decodes to more than"):
        read_rgb_sequence(tmp_path, key, "frames", max_sequence_bytes=3 * frame_bytes)
    with pytest.raises(SequenceError, match="more than 4 frames"):
        read_rgb_sequence(tmp_path, key, "frames", max_frames=4)


def test_jpeg_and_bmp_sizes_are_checked_before_decoding(tmp_path):
    import cv2

    from gaitedge.data.rgb_sources import SequenceError, _read_image, _Budget

    img = np.zeros((40, 30, 3), np.uint8)
    img[10:30, 5:25] = (200, 100, 50)
    for suffix in (".jpg", ".bmp"):
        path = tmp_path / f"f{suffix}"
        cv2.imwrite(str(path), img)
        assert _read_image(path, False, 10_000, _Budget(1 << 20)).shape == (40, 30, 3)
        with pytest.raises(SequenceError, match=f"f{suffix}: 30x40 decodes to more than"):
            _read_image(path, False, 3000, _Budget(1 << 20))
    # a 40-byte-header JPEG claiming 60000 x 60000 pixels is refused from its header
    bomb = b"\xff\xd8" + b"\xff\xc0\x00\x11\x08" + (60000).to_bytes(2, "big") * 2 + b"\x03" + b"\x00" * 9
    (tmp_path / "bomb.jpg").write_bytes(bomb)
    with pytest.raises(SequenceError, match="bomb.jpg: 60000x60000 decodes to more than"):
        _read_image(tmp_path / "bomb.jpg", False, 64 << 20, _Budget(1 << 30))
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    with pytest.raises(SequenceError, match="junk.jpg: not a readable image"):
        _read_image(tmp_path / "junk.jpg", False, 64 << 20, _Budget(1 << 30))
