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
