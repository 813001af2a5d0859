import pytest
import torch

from tests.models._helpers import sil_batch
from gaitedge.models import GaitGL, GaitPart, GaitSet, create_model

# (name, kwargs, embedding shape per sequence, parameter count of the default constructor)
RECOGNISERS = [
    ("GaitGL", {}, (128, 64), 3_096_673),
    ("GaitSet", {}, (256, 62), 2_594_592),
    ("GaitPart", {}, (128, 16), 1_204_000),
]


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name, kw, emb, count", RECOGNISERS)
def test_forward_contract_and_counts(name, kw, emb, count):
    m = create_model(name, **kw)
    assert n_params(m) == count
    batch = sil_batch(n=2, s=3)
    with torch.no_grad():
        out = m(batch)
    assert set(out) == {"training_feat", "inference_feat", "visual_summary"}
    e = out["inference_feat"]["embeddings"]
    assert e.shape == (2, *emb) and torch.isfinite(e).all()
    trip = out["training_feat"]["triplet"]
    assert trip["embeddings"].shape == (2, *emb) and trip["labels"] is batch["labels"]
    assert out["visual_summary"]["image/sils"].shape == (6, 1, 64, 44)


# narrow variants: the same layers and code paths, cheap enough to back-propagate on CPU in a unit test
NARROW = [
    ("GaitGL", {"channels": (8, 16, 32), "parts": 32, "num_classes": 5}, 32, 22),
    ("GaitSet", {"channels": (8, 16, 32), "hidden_dim": 16}, 64, 44),
    ("GaitPart", {"channels": (8, 16, 32), "hidden_dim": 16}, 64, 44),
]


@pytest.mark.parametrize("name, kw, h, w", NARROW)
def test_backward_reaches_every_parameter(name, kw, h, w):
    m = create_model(name, **kw)
    out = m(sil_batch(n=2, s=3, h=h, w=w))
    loss = out["training_feat"]["triplet"]["embeddings"].sum()
    if "softmax" in out["training_feat"]:
        loss = loss + out["training_feat"]["softmax"]["logits"].sum()
    loss.backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@torch.no_grad()
def test_gaitgl_softmax_head():
    out = GaitGL()(sil_batch(n=2, s=3))
    assert out["training_feat"]["softmax"]["logits"].shape == (2, 74, 64)
    # the embedding is the BN output, shared by triplet and inference
    assert out["training_feat"]["triplet"]["embeddings"] is out["inference_feat"]["embeddings"]


@pytest.mark.parametrize("name", ["GaitGL", "GaitSet", "GaitPart"])
def test_variable_length_sequences_match_separate_runs(name):
    m = create_model(name).eval()
    a, b = torch.rand(1, 2, 64, 44), torch.rand(1, 7, 64, 44)
    joint = m({"aligned_sils": torch.cat([a, b], dim=1), "seqL": torch.tensor([2, 7])})
    e = joint["inference_feat"]["embeddings"]
    assert e.shape[0] == 2
    with torch.no_grad():
        ea = m({"aligned_sils": a})["inference_feat"]["embeddings"]
        eb = m({"aligned_sils": b})["inference_feat"]["embeddings"]
    torch.testing.assert_close(e, torch.cat([ea, eb]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("s", [1, 2, 3, 5])
def test_gaitgl_short_clips(s):
    e = GaitGL().eval()({"aligned_sils": torch.rand(1, s, 64, 44)})["inference_feat"]["embeddings"]
    assert e.shape == (1, 128, 64)


def test_gaitgl_one_frame_equals_three_copies():
    m = GaitGL().eval()
    x = torch.rand(1, 1, 64, 44)
    e1 = m.embed(x)
    e3 = m.embed(x.repeat(1, 3, 1, 1))
    torch.testing.assert_close(e1, e3)


def test_gaitgl_oumvlp_layout():
    m = create_model("GaitGL-OUMVLP", num_classes=10)
    names = [k for k in m.state_dict() if k.endswith("weight")]
    assert "conv3d.2.conv3d.weight" in names and "GLConvB2.1.local_conv3d.conv3d.weight" in names
    out = m(sil_batch(n=2, s=3))
    assert out["inference_feat"]["embeddings"].shape == (2, 256, 64)
    assert out["training_feat"]["softmax"]["logits"].shape == (2, 10, 64)


def test_gaitgl_bnneck_head():
    m = GaitGL(num_classes=5, bnneck=True)
    assert not hasattr(m, "Bn") and "BNNecks.bn1d.weight" in m.state_dict()
    out = m(sil_batch(n=2, s=3))
    assert out["training_feat"]["softmax"]["logits"].shape == (2, 5, 64)
    assert out["training_feat"]["triplet"]["embeddings"] is not out["inference_feat"]["embeddings"]


def test_embed_restores_mode_and_accepts_one_sequence():
    m = GaitSet()
    e = m.embed(torch.rand(3, 64, 44))
    assert e.shape == (1, 256, 62) and not e.requires_grad and m.training
    with pytest.raises(ValueError, match="NaN"):
        m.embed(torch.full((3, 64, 44), float("nan")))


@pytest.mark.parametrize("cls", [GaitGL, GaitSet, GaitPart])
def test_bad_input(cls):
    m = cls()
    with pytest.raises(ValueError, match=r"needs batch\['aligned_sils'\]"):
        m({"rgbs": torch.rand(1, 2, 3, 64, 64)})
    with pytest.raises(ValueError, match=r"aligned_sils.*\[n, s, H, W\]"):
        m({"aligned_sils": torch.rand(1, 2, 1, 64, 44)})
    with pytest.raises(ValueError, match="aligned_sils frames"):
        m({"aligned_sils": torch.rand(1, 3, 20, 44)})
    with pytest.raises(ValueError, match="floating point"):
        m({"aligned_sils": torch.ones(1, 3, 64, 44, dtype=torch.uint8)})
    with pytest.raises(ValueError, match="empty"):
        m({"aligned_sils": torch.rand(0, 3, 64, 44)})
    with pytest.raises(ValueError, match="seqL sums to 4"):
        m({"aligned_sils": torch.rand(1, 5, 64, 44), "seqL": torch.tensor([2, 2])})
    with pytest.raises(ValueError, match=r"leading shape \[1, sum\(seqL\)"):
        m({"aligned_sils": torch.rand(2, 2, 64, 44), "seqL": torch.tensor([1, 1])})
