"""README "Your own data", end to end on a tiny set: SynthGait written as RGB frame files -> pretreat --rgb ->
phase-1 and phase-2 training -> embed (frozen-segmenter masks, no silhouettes) -> match. The same commands as the
README, with a few training iterations."""

import json

import numpy as np
import pytest

from gaitedge.cli import main
from gaitedge.inference import read_embeddings

pytest.importorskip("cv2")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _run(*args):
    assert main([str(a) for a in args]) == 0, args


def test_rgb_frames_to_identities(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    _run("synth", "--out", "data/own", "--format", "frames", "--subjects", 5, "--views", "90", "--frames", 6,
         "--extra", "size=64")
    _run("pretreat", "--rgb", "frames", "-i", "data/own", "-o", "data/own-pre", "--format", "native",
         "--crop-size", 64, "-n", 1)
    data = ["data.root=data/own-pre", "data.partition=data/own/partition.json", "trainer.total_iter=2",
            "data.train.P=2", "data.train.K=2", "data.train.frames=4", "trainer.threads=1"]
    _run("train", "--config", "synth_phase1_seg", "--out", "runs/own-seg", *data)
    _run("train", "--config", "synth_phase1_rec", "--out", "runs/own-rec", *data)
    seg, rec = "runs/own-seg/checkpoints/Segmentation-00002.pt", "runs/own-rec/checkpoints/GaitGL-00002.pt"
    _run("train", "--config", "synth_phase2_gaitedge", "--out", "runs/own-edge", *data, f"model.init.0.path={seg}",
         f"model.init.1.path={rec}", f"model.init.2.path={seg}")
    # people the model never saw, as a video per sequence
    _run("synth", "--out", "data/people", "--format", "frames", "--video", "mp4", "--subjects", 3, "--seed", 1,
         "--views", "90", "--frames", 6, "--extra", "size=64")
    ckpt = "runs/own-edge/checkpoints/GaitEdge-00002.pt"
    _run("embed", "--checkpoint", ckpt, "-i", "data/people", "--layout", "frames", "--size", 64, "--types",
         "nm-01,nm-02", "-o", "emb/gallery")
    _run("embed", "--checkpoint", ckpt, "-i", "data/people", "--layout", "frames", "--size", 64, "--types",
         "nm-05,nm-06,bg-01,cl-01", "-o", "emb/probe")
    _run("match", "--gallery", "emb/gallery", "--probe", "emb/probe", "-o", "match.json")
    gallery, probe = read_embeddings(tmp_path / "emb/gallery"), read_embeddings(tmp_path / "emb/probe")
    assert len(gallery.sequences) == 6 and len(probe.sequences) == 12
    doc = json.loads((tmp_path / "match.json").read_text())
    assert doc["labelled"] == 12 and set(doc["accuracy"]) == {"1", "5"}
    assert all(len(p["ranked"]) == 5 for p in doc["probes"])
    assert np.isfinite(gallery.embeddings).all()
    assert "rank-1" in capsys.readouterr().out
