"""GaitEdge / GaitGL-E2E: contract, gradients, synthesis-only difference, checkpoints, inference API, AMP, compile.

These need ``gaitedge.nn`` (GaitSynthesis / GaitAlign / GaitEdgeAlign) and the compiled extension.
"""

import pytest
import torch

from tests.models._helpers import person_sils

# gaitedge.nn imports without the extension (its reference layers need none); these tests also run the fused ones
pytest.importorskip("gaitedge._C", reason="GaitEdge's fused layers need the compiled extension gaitedge._C")
gnn = pytest.importorskip("gaitedge.nn", reason="GaitEdge needs gaitedge.nn")
if not all(hasattr(gnn, n) for n in ("GaitSynthesis", "GaitAlign", "GaitEdgeAlign")):
    pytest.skip("gaitedge.nn lacks GaitSynthesis/GaitAlign/GaitEdgeAlign", allow_module_level=True)

from gaitedge.models import GaitEdge, GaitGL, Segmentation, UNet, create_model, load_opengait_checkpoint  # noqa: E402
from gaitedge.ops import _reference as R  # noqa: E402

ENCODER = ("Backbone.Conv1.", "Backbone.Conv2.", "Backbone.Conv3.", "Backbone.Conv4.")


def batch(n=2, s=3, hw=32, labels=True, sils=True, ratio=0.45):
    b = {
        "rgbs": torch.randn(n, s, 3, hw, hw),
        "ratios": torch.full((n, s), ratio),
        "seqL": None,
    }
    if sils:
        b["sils"] = person_sils(n, s, hw, hw)
    if labels:
        b["labels"] = torch.arange(n)
    return b


def small(**kw):
    """A narrow GaitEdge on 32x22 aligned frames: same code paths, a fraction of the cost."""
    kw.setdefault("channels", (8, 16, 32))
    kw.setdefault("parts", 32)
    kw.setdefault("out_size", (32, 22))
    kw.setdefault("num_classes", 6)
    return GaitEdge(**kw)


def rec_loss(out):
    feat = out["training_feat"]
    return feat["triplet"]["embeddings"].square().mean() + feat["softmax"]["logits"].mean()


def test_counts_and_keys_are_gaitgl_plus_backbone():
    expected = set(GaitGL().state_dict()) | {"Backbone." + k for k in UNet().state_dict()}
    gt = create_model("GaitEdge", mask_source="silhouette")  # OpenGait's GaitEdge: exactly its keys
    assert sum(p.numel() for p in gt.parameters()) == 3_096_673 + 537_425
    assert sum(p.numel() for p in gt.parameters() if p.requires_grad) == 3_096_673 + 242_945  # encoder frozen
    assert set(gt.state_dict()) == expected  # the ops layers add no parameters or buffers
    e2e = create_model("GaitGL-E2E")
    assert not e2e.edge and set(e2e.state_dict()) == expected and not hasattr(e2e, "Frozen")
    # the default (frozen-segmenter masks) adds one untrainable U-Net copy under Frozen.Backbone
    m = create_model("GaitEdge")
    assert m.mask_source == "frozen"
    assert set(m.state_dict()) == expected | {"Frozen.Backbone." + k for k in UNet().state_dict()}
    assert sum(p.numel() for p in m.parameters()) == 3_096_673 + 2 * 537_425
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 3_096_673 + 242_945


@pytest.mark.parametrize("edge", [True, False])
@pytest.mark.parametrize("mask_source", ["frozen", "trainable", "silhouette"])
def test_forward_contract(edge, mask_source):
    m = small(edge=edge, mask_source=mask_source)
    b = batch()
    out = m(b)
    assert out["inference_feat"]["embeddings"].shape == (2, 32, 32)
    assert out["training_feat"]["softmax"]["logits"].shape == (2, 6, 32)
    bce = out["training_feat"]["bce"]
    assert bce["probs"].shape == (6, 1, 32, 32) and bce["targets"].shape == (6, 1, 32, 32)
    assert out["visual_summary"]["image/roi"].shape == (6, 1, 32, 22)
    if mask_source != "silhouette" or not edge:
        no_gt = m({k: v for k, v in b.items() if k != "sils"})  # RGB + ratios only
        assert "bce" not in no_gt["training_feat"]
    else:
        with pytest.raises(ValueError, match=r"needs batch\['sils'\]"):
            m({k: v for k, v in b.items() if k != "sils"})


def test_variable_length_sequences():
    m = small().eval()
    a, b2 = batch(n=1, s=2, sils=False, labels=False), batch(n=1, s=4, sils=False, labels=False)
    joint = {
        "rgbs": torch.cat([a["rgbs"], b2["rgbs"]], 1),
        "ratios": torch.cat([a["ratios"], b2["ratios"]], 1),
        "seqL": torch.tensor([2, 4]),
    }
    with torch.no_grad():
        e = m(joint)["inference_feat"]["embeddings"]
        ea, eb = m(a)["inference_feat"]["embeddings"], m(b2)["inference_feat"]["embeddings"]
    torch.testing.assert_close(e, torch.cat([ea, eb]), rtol=1e-4, atol=1e-5)


def test_frozen_encoder_gets_no_grad():
    m = small()
    out = m(batch())
    (rec_loss(out) + out["training_feat"]["bce"]["probs"].mean()).backward()
    for name, p in m.named_parameters():
        if name.startswith(ENCODER + ("Frozen.",)):
            assert p.grad is None and not p.requires_grad, name
        else:
            assert p.grad is not None, name
    assert m.Backbone.Up_conv2.conv[0].weight.grad.abs().sum() > 0


def _logit_grad(m, b):
    seen = {}

    def keep(mod, inp, out):
        out.retain_grad()
        seen["logits"] = out

    h = m.Backbone.register_forward_hook(keep)
    rec_loss(m(b)).backward()  # recognition loss only: no BCE
    h.remove()
    return seen["logits"].grad


def test_decoder_gradient_only_through_edge_band():
    m = small(mask_source="silhouette")
    b = batch(sils=True)
    grad = _logit_grad(m, b)  # [N, 1, H, W]
    edge, _ = R.edge_masks(b["sils"].reshape(-1, 1, 32, 32), 3)
    assert grad[~edge].abs().max() == 0
    assert grad[edge].abs().max() > 0


def test_decoder_gradient_zero_when_edge_band_empty():
    # a silhouette that fills the whole frame has no edge (geodesic border): nothing is trainable in the U-Net
    m = small(mask_source="silhouette")
    b = batch()
    b["sils"] = torch.ones_like(b["sils"])
    rec_loss(m(b)).backward()
    assert all(p.grad is None or p.grad.abs().max() == 0 for n, p in m.named_parameters() if n.startswith("Backbone."))
    assert m.Head0.fc_bin.grad.abs().max() > 0
    # segmenter masks: a segmenter that says "person" everywhere gives M = 1 everywhere, so no edge either
    for source in ("trainable", "frozen"):
        m = small(mask_source=source)
        seg = m.Frozen.Backbone if source == "frozen" else m.Backbone
        with torch.no_grad():
            seg.Conv_1x1.weight.zero_()
            seg.Conv_1x1.bias.fill_(6.0)
        rec_loss(m(batch(sils=False))).backward()
        assert all(p.grad is None or p.grad.abs().max() == 0
                   for n, p in m.named_parameters() if n.startswith("Backbone.")), source


def test_frozen_mask_comes_from_the_frozen_copy_and_never_trains():
    torch.manual_seed(0)
    m = small()  # mask_source="frozen"
    b = batch(sils=False)
    frames = b["rgbs"].reshape(6, 3, 32, 32)
    frozen_before = {k: v.clone() for k, v in m.Frozen.state_dict().items()}
    out = m(b)
    rec_loss(out).backward()
    assert all(p.grad is None and not p.requires_grad for p in m.Frozen.parameters())
    assert not m.Frozen.training and m.training  # BatchNorm of the copy uses running stats even in train()
    assert all(torch.equal(v, m.Frozen.state_dict()[k]) for k, v in frozen_before.items())  # running stats too
    with torch.no_grad():
        probs = torch.sigmoid(m.Backbone(frames))
        mask = (torch.sigmoid(m.Frozen.Backbone.eval()(frames)) > 0.5).float()
        align = gnn.GaitAlign(H=32, W=22, backend="reference")
        synth = gnn.GaitSynthesis(kernel_size=3, backend="reference")
        expected = align(synth(probs, mask), mask, b["ratios"].reshape(6))
    torch.testing.assert_close(out["visual_summary"]["image/roi"], expected, rtol=1e-5, atol=1e-6)
    # changing the trainable decoder moves P but not the mask: the interior and the box stay where they were
    with torch.no_grad():
        m.Backbone.Conv_1x1.bias.add_(3.0)
        moved = m(b)["visual_summary"]["image/roi"]
        probs2 = torch.sigmoid(m.Backbone(frames))
        torch.testing.assert_close(moved, align(synth(probs2, mask), mask, b["ratios"].reshape(6)),
                                   rtol=1e-5, atol=1e-6)
        trainable = small(mask_source="trainable")
        trainable.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("Frozen.")})
        assert not torch.allclose(trainable(b)["visual_summary"]["image/roi"], moved)


def test_e2e_and_gaitedge_differ_only_in_synthesis():
    edge = small(mask_source="trainable").eval()
    e2e = small(edge=False).eval()
    e2e.load_state_dict(edge.state_dict())
    b = batch(sils=False)
    with torch.no_grad():
        probs = torch.sigmoid(edge.Backbone(b["rgbs"].reshape(6, 3, 32, 32)))
        mask = torch.round(probs)
        ratios = b["ratios"].reshape(6)
        align = gnn.GaitAlign(H=32, W=22, backend="reference")
        synth = gnn.GaitSynthesis(kernel_size=3, backend="reference")
        out_edge, out_e2e = edge(b), e2e(b)
    torch.testing.assert_close(out_e2e["visual_summary"]["image/roi"], align(probs, mask, ratios), rtol=1e-5, atol=1e-6)
    expected_edge = align(synth(probs, mask), mask, ratios)
    torch.testing.assert_close(out_edge["visual_summary"]["image/roi"], expected_edge, rtol=1e-5, atol=1e-6)
    # everything downstream of the aligned silhouette is the same GaitGL
    for m, out in ((edge, out_edge), (e2e, out_e2e)):
        roi = out["visual_summary"]["image/roi"].reshape(2, 3, 32, 22)
        with torch.no_grad():
            ref = m.recognise(roi, None, None)["inference_feat"]["embeddings"]
        torch.testing.assert_close(out["inference_feat"]["embeddings"], ref)


@pytest.mark.parametrize("edge", [True, False])
def test_fused_and_reference_backends_agree(edge):
    fused = small(edge=edge, ops_backend="fused").eval()
    ref = small(edge=edge, ops_backend="reference").eval()  # both default to frozen-segmenter masks
    ref.load_state_dict(fused.state_dict())
    b = batch(sils=False)
    with torch.no_grad():
        torch.testing.assert_close(fused(b)["inference_feat"]["embeddings"], ref(b)["inference_feat"]["embeddings"],
                                   rtol=1e-4, atol=1e-5)


def test_no_align_resizes_whole_frame():
    m = small(align=False).eval()
    b = batch(sils=False)
    out = m(b)
    assert out["visual_summary"]["image/roi"].shape == (6, 1, 32, 22)
    assert m({"rgbs": b["rgbs"]})["inference_feat"]["embeddings"].shape == (2, 32, 32)  # ratios unused


def test_embed_from_raw_rgb():
    m = small()
    rgb = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    ratios = torch.full((5,), 0.4)
    e = m.embed(rgb, ratios)
    assert e.shape == (1, 32, 32) and not e.requires_grad and m.training
    norm = GaitEdge.normalize_rgb(rgb)
    torch.testing.assert_close(m.embed(norm, ratios), e)
    with pytest.raises(ValueError, match=r"needs batch\['sils'\]"):
        small(mask_source="silhouette").embed(rgb, ratios)
    sils = (torch.rand(5, 32, 32) > 0.5).float()
    for source in ("trainable", "silhouette"):
        e = small(mask_source=source).embed(rgb, ratios, sils=sils)
        assert e.shape == (1, 32, 32) and torch.isfinite(e).all()


def test_bad_input_names_the_argument():
    m = small()
    with pytest.raises(ValueError, match=r"rgbs.*3 channels"):
        m(dict(batch(), rgbs=torch.randn(2, 3, 1, 32, 32)))
    with pytest.raises(ValueError, match=r"rgbs.*at least 8x8"):
        m(dict(batch(), rgbs=torch.randn(2, 3, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"ratios.*\[n, s\]"):
        m(dict(batch(), ratios=torch.full((2, 2), 0.4)))
    with pytest.raises(ValueError, match=r"ratios"):
        m.embed(torch.randn(3, 3, 32, 32), torch.full((4,), 0.4))
    with pytest.raises(ValueError, match="ratios must be positive"):
        m.embed(torch.randn(3, 3, 32, 32), torch.zeros(3))
    with pytest.raises(ValueError, match="rgbs contains NaN"):
        m.embed(torch.full((3, 3, 32, 32), float("nan")), torch.full((3,), 0.4))
    with pytest.raises(ValueError, match="mask_source"):
        GaitEdge(mask_source="gt")
    with pytest.raises(ValueError, match="kernel_size"):
        GaitEdge(kernel_size=4)


def test_phase2_init_from_two_opengait_checkpoints(tmp_path):
    seg, gl = Segmentation(), GaitGL()
    torch.save({"model": seg.state_dict(), "iteration": 25000}, tmp_path / "Segmentation-25000.pt")
    torch.save({"model": gl.state_dict(), "iteration": 80000}, tmp_path / "GaitGL-80000.pt")
    m = GaitEdge()  # frozen-segmenter masks: the U-Net file fills the trainable U-Net and the frozen copy
    r1 = load_opengait_checkpoint(m, tmp_path / "Segmentation-25000.pt")
    r2 = load_opengait_checkpoint(m, tmp_path / "GaitGL-80000.pt")
    assert (r1.target, r2.target) == ("Backbone", "recogniser") and r1.ok and r2.ok
    assert len(r1.loaded) + len(r2.loaded) == len(m.state_dict())
    assert torch.equal(m.Backbone.Conv_1x1.weight, seg.Backbone.Conv_1x1.weight)
    assert torch.equal(m.Frozen.Backbone.Conv_1x1.weight, seg.Backbone.Conv_1x1.weight)
    assert torch.equal(m.Frozen.Backbone.Conv1.conv[1].running_var, seg.Backbone.Conv1.conv[1].running_var)
    assert torch.equal(m.Head1.fc_bin, gl.Head1.fc_bin)
    # a whole GaitEdge checkpoint round-trips; its recogniser part is not silently taken by a GaitGL
    torch.save({"model": m.state_dict()}, tmp_path / "GaitEdge-20000.pt")
    m2 = GaitEdge()
    assert load_opengait_checkpoint(m2, tmp_path / "GaitEdge-20000.pt").target == "all"
    assert all(torch.equal(v, m2.state_dict()[k]) for k, v in m.state_dict().items())
    with pytest.raises(RuntimeError, match="unexpected"):
        load_opengait_checkpoint(GaitGL(), tmp_path / "GaitEdge-20000.pt")
    res = load_opengait_checkpoint(GaitGL(), tmp_path / "GaitEdge-20000.pt", strict=False)
    assert res.missing == [] and all(k.startswith(("Backbone.", "Frozen.")) for k in res.unexpected)


def test_opengait_export_leaves_out_the_frozen_segmenter(tmp_path):
    from gaitedge.models import save_opengait_checkpoint

    m = GaitEdge()
    save_opengait_checkpoint(m, tmp_path / "GaitEdge-1.pt")
    saved = torch.load(tmp_path / "GaitEdge-1.pt", weights_only=True)["model"]
    assert set(saved) == set(GaitEdge(mask_source="silhouette").state_dict())  # OpenGait's GaitEdge keys exactly
    assert load_opengait_checkpoint(GaitEdge(mask_source="silhouette"), tmp_path / "GaitEdge-1.pt").ok
    # an OpenGait GaitEdge file has no frozen segmenter: a strict load into frozen mode says what is missing
    with pytest.raises(RuntimeError, match=r"Frozen\.Backbone.*mask_source='silhouette'"):
        load_opengait_checkpoint(GaitEdge(), tmp_path / "GaitEdge-1.pt")
    res = load_opengait_checkpoint(GaitEdge(), tmp_path / "GaitEdge-1.pt", strict=False)
    assert res.missing and all(k.startswith("Frozen.Backbone.") for k in res.missing)


def test_autocast_bf16_forward_backward():
    m = small()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(batch())
        loss = rec_loss(out).float() + out["training_feat"]["bce"]["probs"].float().mean()
    loss.backward()
    assert torch.isfinite(out["inference_feat"]["embeddings"].float()).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_channels_last_matches():
    m = small().eval()
    b = batch(sils=False)
    with torch.no_grad():
        ref = m(b)["inference_feat"]["embeddings"]
        for p in m.Backbone.parameters():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
        out = m(b)["inference_feat"]["embeddings"]
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def _compile_check(backend):
    torch._dynamo.reset()
    # GT silhouettes give a known, non-empty edge band, so the decoder must receive gradient
    m = small(channels=(4, 8, 8), seg_channels=(4, 8, 8, 8), num_classes=3, mask_source="silhouette")
    b = batch(n=2, s=3, hw=16)
    ref = rec_loss(m(b))
    compiled = torch.compile(m, backend=backend)
    loss = rec_loss(compiled(b))
    loss.backward()
    torch.testing.assert_close(loss, ref, rtol=1e-3, atol=1e-4)
    assert m.Head0.fc_bin.grad is not None and m.Backbone.Up_conv2.conv[0].weight.grad is not None


def test_torch_compile_aot_eager_forward_backward():
    # dynamo tracing + AOT autograd through the custom ops (fake kernels, autograd registration): seconds
    _compile_check("aot_eager")


@pytest.mark.slow
def test_torch_compile_inductor_forward_backward():
    # full inductor codegen on CPU (C++ compile): ~1.5 min on 2 cores
    _compile_check("inductor")
