"""``trainer.channels_last``: Conv2d and Conv3d weights channels-last in training and in a reloaded model."""

import pytest
import torch

from gaitedge.experiment import load_trained_model
from gaitedge.training.config import load_config

pytest.importorskip("gaitedge._C", reason="GaitEdge needs the compiled ops")


@pytest.mark.parametrize("flag", [True, False])
def test_reloaded_model_takes_the_runs_layout(tmp_path, flag):
    cfg = load_config("synth_phase2_gaitedge")
    assert cfg["trainer"]["channels_last"] is True  # the shipped default
    cfg["trainer"]["channels_last"] = flag
    from gaitedge.training.builders import build_model
    model = build_model(dict(cfg["model"], init=[]), num_classes=3)
    torch.save({"model": model.state_dict()}, tmp_path / "m.pt")
    back = load_trained_model(cfg, tmp_path / "m.pt")
    conv3d = back.GLConvA0.global_conv3d.conv3d.weight
    conv2d = back.Frozen.Backbone.Conv1.conv[0].weight
    assert conv3d.is_contiguous(memory_format=torch.channels_last_3d) == flag
    assert conv2d.is_contiguous(memory_format=torch.channels_last) == flag
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in back.state_dict().items())


def test_channels_last_training_is_deterministic():
    from gaitedge.models import GaitEdge, to_channels_last_
    from gaitedge.training.losses import LossAggregator

    g = torch.Generator().manual_seed(1)
    sils = (torch.rand(4, 3, 32, 32, generator=g) > 0.5).float()  # [n, s, H, W]
    batch = {"rgbs": torch.randn(4, 3, 3, 32, 32, generator=g), "sils": sils, "ratios": torch.full((4, 3), 0.5),
             "labels": torch.tensor([0, 0, 1, 1])}
    loss = LossAggregator.from_config({"triplet": {"weight": 1.0, "margin": 0.2}, "softmax": {"weight": 1.0},
                                       "bce": {"weight": 10.0}})

    def train():
        torch.manual_seed(0)
        m = to_channels_last_(GaitEdge(num_classes=2, channels=(8, 16, 32), seg_channels=(8, 16, 32), parts=16))
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-3)
        for _ in range(3):
            opt.zero_grad()
            loss(m(batch)["training_feat"])[0].backward()
            opt.step()
        return m.state_dict()

    a, b = train(), train()
    assert all(torch.equal(a[k], b[k]) for k in a)
