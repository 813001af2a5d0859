"""`gaitedge embed` and `gaitedge match`: batch-size independence, eager parity, bad input, the CLI round trip."""

import json

import numpy as np
import pytest
import torch

from gaitedge.cli import main
from gaitedge.data import SynthGait, generate_synthgait
from gaitedge.inference import (EmbeddingSet, ModelSpec, embed_sequences, load_rgb_model, match_embeddings,
                                read_embeddings, rgb_sequence_loaders, write_embeddings)
from gaitedge.models import CheckpointError

from ._fixtures import MODEL, tiny_model, write_run

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate_synthgait(root, subjects=3, views=(90,), frames=(5, 9), size=64, conditions={"nm": 2, "cl": 1})
    return root


def test_embeddings_do_not_depend_on_batch_size(synth_root):
    model = tiny_model()
    loaders = rgb_sequence_loaders(synth_root, "dataset")
    one = embed_sequences(model, loaders, batch_size=1)
    many = embed_sequences(model, loaders, batch_size=4)
    assert one.keys == many.keys and len(one.keys) == 9 and not one.failed
    np.testing.assert_allclose(one.embeddings, many.embeddings, rtol=1e-5, atol=1e-5)
    # and each equals the model's own embed of that sequence alone
    key = one.keys[4]
    seq = SynthGait(subjects=3, views=(90,), frames=(5, 9), size=64, conditions={"nm": 2, "cl": 1}).sequence(*key)
    ref = model.embed(torch.from_numpy(seq["rgbs"]), torch.from_numpy(seq["ratios"]))
    np.testing.assert_allclose(one.embeddings[4], ref[0].numpy(), rtol=1e-5, atol=1e-5)


def test_the_block_cache_switch_gives_the_same_embeddings_and_is_checked(synth_root, monkeypatch):
    from gaitedge import block_cache as bc

    seen = []
    real = bc.block_cache
    monkeypatch.setattr("gaitedge.inference.embed.block_cache", lambda enabled: seen.append(enabled) or real(enabled))
    model = tiny_model()
    loaders = rgb_sequence_loaders(synth_root, "dataset")
    on = embed_sequences(model, loaders, batch_size=4)
    off = embed_sequences(model, loaders, batch_size=4, cpu_block_cache=False)
    assert seen == [True, False] and np.array_equal(on.embeddings, off.embeddings)
    with pytest.raises(TypeError, match="cpu_block_cache"):
        embed_sequences(model, loaders, cpu_block_cache="no")


def test_match_uses_the_evaluation_metric_and_ranks(synth_root):
    model = tiny_model()
    res = embed_sequences(model, rgb_sequence_loaders(synth_root, "dataset"), batch_size=3)
    recs = [{"id": k[0], "type": k[1], "view": k[2], "frames": n} for k, n in zip(res.keys, res.frames)]
    gal = [i for i, r in enumerate(recs) if r["type"] == "nm-01"]
    prb = [i for i, r in enumerate(recs) if r["type"] != "nm-01"]
    g = EmbeddingSet(res.embeddings[gal], [recs[i] for i in gal])
    p = EmbeddingSet(res.embeddings[prb], [recs[i] for i in prb])
    out = match_embeddings(g, p, k=2)
    from gaitedge.evaluation.metrics import part_distance, rank_k_accuracy

    dist = part_distance(torch.from_numpy(p.embeddings), torch.from_numpy(g.embeddings))
    assert out.accuracy == rank_k_accuracy(dist, p.ids, g.ids, (1, 5))
    for i, ranked in enumerate(out.ranked):
        assert [d for _, _, d in ranked] == sorted(dist[i].tolist())[:2]
    assert out.labelled == len(prb)
    # a probe set of unknown people: ranking but no accuracy
    q = EmbeddingSet(p.embeddings, [dict(r, id="stranger") for r in p.sequences])
    assert match_embeddings(g, q).accuracy is None


def test_wrong_model_checkpoint_is_one_error_naming_the_file(tmp_path):
    gaitgl = create_gaitgl()
    from gaitedge.training.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "GaitGL-0.pt", model=gaitgl, iteration=0)
    with pytest.raises(CheckpointError, match="GaitGL-0.pt"):
        load_rgb_model(ModelSpec(MODEL["name"], MODEL["kwargs"]), path)
    sil = write_run(tmp_path / "run", tiny_model(mask_source="silhouette"))
    with pytest.raises(ValueError, match="mask_source"):
        load_rgb_model(ModelSpec("GaitEdge", dict(MODEL["kwargs"], mask_source="silhouette")), sil)


def create_gaitgl():
    from gaitedge.models import create_model

    return create_model("GaitGL", num_classes=4, channels=(8, 16, 32), parts=16)


def test_short_and_broken_sequences_fail_alone(synth_root, tmp_path):
    root = tmp_path / "data"
    generate_synthgait(root, subjects=2, views=(90,), frames=6, size=64, conditions={"nm": 2})
    short = root / "001" / "nm-02" / "090"
    for name in ("rgbs", "ratios", "sils", "aligned_sils"):
        arr = np.load(short / f"{name}.npy")
        np.save(short / f"{name}.npy", arr[:2])
    index = json.loads((root / "index.json").read_text())
    for s in index["sequences"]:
        s["frames"] = 2 if (s["id"], s["type"]) == ("001", "nm-02") else s["frames"]
    (root / "index.json").write_text(json.dumps(index))
    (root / "002" / "nm-01" / "090" / "rgbs.npy").write_bytes(b"not a numpy file")
    res = embed_sequences(tiny_model(), rgb_sequence_loaders(root, "dataset"), batch_size=2)
    assert set(res.failed) == {"001/nm-02/090", "002/nm-01/090"}
    assert "fewer than the 3" in res.failed["001/nm-02/090"]
    assert "rgbs.npy" in res.failed["002/nm-01/090"]
    assert len(res.keys) == 2 and res.embeddings.shape[0] == 2


def test_cli_embed_then_match(synth_root, tmp_path, capsys):
    ckpt = write_run(tmp_path / "run")
    out = tmp_path / "emb"
    assert main(["embed", "--checkpoint", str(ckpt), "-i", str(synth_root), "-o", str(out), "--batch-size", "4",
                 "--threads", "1"]) == 0
    emb = read_embeddings(out)
    assert emb.embeddings.shape == (9, 32, 16) and emb.model["name"] == "GaitEdge"
    # the block cache changes where memory comes from, never an embedding
    assert main(["embed", "--checkpoint", str(ckpt), "-i", str(synth_root), "-o", str(tmp_path / "plain"),
                 "--batch-size", "4", "--threads", "1", "--no-block-cache"]) == 0
    assert np.array_equal(read_embeddings(tmp_path / "plain").embeddings, emb.embeddings)
    assert main(["embed", "--checkpoint", str(ckpt), "-i", str(synth_root), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    csv_path, json_path = tmp_path / "m.csv", tmp_path / "m.json"
    assert main(["match", "--gallery", str(out), "--probe", str(out), "-k", "3", "-o", str(csv_path)]) == 0
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "probe,probe_id,rank,gallery,gallery_id,distance" and len(rows) == 1 + 9 * 3
    assert "rank-1 100.0 %" in capsys.readouterr().out  # each probe finds itself at distance 0
    assert main(["match", "--gallery", str(out), "--probe", str(out), "-o", str(json_path)]) == 0
    doc = json.loads(json_path.read_text())
    assert doc["accuracy"]["1"] == 100.0 and doc["probes"][0]["ranked"][0]["distance"] < 1e-3
    if not torch.cuda.is_available():
        assert main(["embed", "--checkpoint", str(ckpt), "-i", str(synth_root), "-o", str(tmp_path / "e2"),
                     "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    (out / "index.json").write_text("{")
    assert main(["match", "--gallery", str(out), "--probe", str(out)]) == 2
    assert "index.json" in capsys.readouterr().err


def test_embedding_files_are_validated(tmp_path):
    write_embeddings(tmp_path, EmbeddingSet(np.zeros((2, 4, 3), np.float32),
                                            [{"id": "a", "type": "t", "view": "v", "frames": 3}]))
    with pytest.raises(ValueError, match="embeddings.npy"):
        read_embeddings(tmp_path)


def test_raw_layouts_embed_as_their_pretreated_dataset(tmp_path):
    pytest.importorskip("cv2")
    from gaitedge.data.pretreat_rgb import pretreat_rgb_folders
    from gaitedge.data.synth.files import write_rgb_files

    synth = SynthGait(subjects=2, views=(90,), frames=6, size=64, conditions={"nm": 1})
    model = tiny_model()
    for layout in ("frames", "crops"):
        write_rgb_files(tmp_path / layout, synth, layout)
        pretreat_rgb_folders(tmp_path / layout, tmp_path / f"{layout}-pre", layout, size=64, workers=1, fmt="native")
        raw = embed_sequences(model, rgb_sequence_loaders(tmp_path / layout, layout, size=64))
        pre = embed_sequences(model, rgb_sequence_loaders(tmp_path / f"{layout}-pre", "dataset"))
        assert raw.keys == pre.keys and len(raw.keys) == 2
        np.testing.assert_array_equal(raw.embeddings, pre.embeddings)
    pretreat_rgb_folders(tmp_path / "crops", tmp_path / "pkl", "crops", size=64, workers=1, fmt="opengait")
    pkl = embed_sequences(model, rgb_sequence_loaders(tmp_path / "pkl", "dataset"))
    np.testing.assert_array_equal(pkl.embeddings, raw.embeddings)
    only = rgb_sequence_loaders(tmp_path / "crops", "crops", size=64, types=("nm-01",))
    assert [k[1] for k, _ in only] == ["nm-01", "nm-01"]


def test_match_refuses_embeddings_of_different_models(tmp_path, capsys):
    rec = [{"id": "a", "type": "nm-01", "view": "090", "frames": 6}]
    write_embeddings(tmp_path / "g", EmbeddingSet(np.ones((1, 32, 16), np.float32), rec))
    write_embeddings(tmp_path / "p", EmbeddingSet(np.ones((1, 128, 64), np.float32), rec))
    with pytest.raises(ValueError, match="same model"):
        match_embeddings(read_embeddings(tmp_path / "g"), read_embeddings(tmp_path / "p"))
    assert main(["match", "--gallery", str(tmp_path / "g"), "--probe", str(tmp_path / "p")]) == 2
    assert "differ in [c, p]" in capsys.readouterr().err
    assert main(["match", "--gallery", str(tmp_path / "g"), "--probe", str(tmp_path / "g"), "-o", "x.txt"]) == 2
    assert ".csv or .json" in capsys.readouterr().err
