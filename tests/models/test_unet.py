import pytest
import torch

from gaitedge.models import Segmentation, UNet, create_model

ENCODER = ("Conv1", "Conv2", "Conv3", "Conv4")


def test_parameter_counts():
    m = UNet()
    assert sum(p.numel() for p in m.parameters()) == 537_425
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 537_425  # default: nothing frozen
    frozen = UNet(freeze_encoder=True)
    assert sum(p.numel() for p in frozen.parameters() if p.requires_grad) == 242_945


def test_forward_shape_logits_and_small_frames():
    m = UNet()
    assert m(torch.randn(2, 3, 128, 128)).shape == (2, 1, 128, 128)
    seen = {}
    m.Conv_1x1.register_forward_hook(lambda mod, i, o: seen.__setitem__("out", o))
    out = m(torch.randn(3, 3, 16, 24))
    assert out.shape == (3, 1, 16, 24)
    assert out is seen["out"]  # logits straight from the 1x1 conv: the caller applies the sigmoid


def test_frozen_encoder_gets_no_grad_and_runs_without_graph():
    m = UNet(freeze_encoder=True)
    feats = {}
    m.Conv4.register_forward_hook(lambda mod, i, o: feats.__setitem__("x4", o))
    m(torch.randn(2, 3, 32, 32)).sum().backward()
    assert not feats["x4"].requires_grad  # encoder ran under no_grad
    for name, p in m.named_parameters():
        if name.split(".")[0] in ENCODER:
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_unfreezing_restores_encoder_grad():
    m = UNet(freeze_encoder=True).set_encoder_frozen(False)
    m(torch.randn(2, 3, 16, 16)).sum().backward()
    assert m.Conv1.conv[0].weight.grad is not None


@pytest.mark.parametrize(
    "shape, match",
    [
        ((2, 1, 32, 32), "3 channels"),
        ((2, 3, 4, 4), "at least 8x8"),
        ((2, 3, 36, 32), "multiples of 8"),
        ((3, 32, 32), r"\[N, 3, H, W\]"),
    ],
)
def test_bad_input(shape, match):
    with pytest.raises(ValueError, match=match):
        UNet()(torch.randn(*shape))


def test_segmentation_contract():
    m = create_model("Segmentation")
    assert isinstance(m, Segmentation) and not m.Backbone.encoder_frozen
    rgbs = torch.randn(2, 3, 3, 32, 32)
    sils = (torch.rand(2, 3, 32, 32) > 0.5).float()
    out = m({"rgbs": rgbs, "sils": sils})
    bce = out["training_feat"]["bce"]
    assert bce["probs"].shape == (6, 1, 32, 32) and bce["targets"].shape == (6, 1, 32, 32)
    assert 0 <= bce["probs"].min() and bce["probs"].max() <= 1
    torch.testing.assert_close(bce["targets"], sils.reshape(6, 1, 32, 32))
    assert set(out["inference_feat"]) == {"probs", "targets"}
    no_gt = m({"rgbs": rgbs})
    assert no_gt["training_feat"] == {} and no_gt["inference_feat"]["targets"] is None
    assert list(m.state_dict())[0] == "Backbone.Conv1.conv.0.weight"


def test_segmentation_bad_input():
    m = Segmentation()
    with pytest.raises(ValueError, match=r"needs batch\['rgbs'\]"):
        m({"sils": torch.zeros(1, 1, 32, 32)})
    with pytest.raises(ValueError, match=r"batch\['sils'\] must be"):
        m({"rgbs": torch.randn(1, 2, 3, 32, 32), "sils": torch.zeros(1, 3, 32, 32)})
    with pytest.raises(ValueError, match="3 channels"):
        m({"rgbs": torch.randn(1, 2, 4, 32, 32)})
    with pytest.raises(ValueError, match="empty"):
        m({"rgbs": torch.randn(0, 2, 3, 32, 32)})
