"""gaitedge.nn.GaitAlign against OpenGait's GaitAlign interface, written down here as data."""

import inspect

import pytest
import torch
from torch import nn

import gaitedge.ops as ops
from gaitedge.nn import GaitAlign

# OpenGait's opengait/modeling/modules.py: `GaitAlign(H=64, W=44, eps=1, **kwargs)` (extra keyword arguments are
# accepted and ignored), `forward(feature_map, binary_mask, w_h_ratio)`, and the attributes its code and users read.
OPENGAIT_GAITALIGN = {
    "init": [("H", 64), ("W", 44), ("eps", 1)],
    "init_var_keyword": True,
    "forward": ["feature_map", "binary_mask", "w_h_ratio"],
    "attributes": {"H": 64, "W": 44, "eps": 1},
    "Pad": {"type": nn.ZeroPad2d, "padding": (22, 22, 0, 0)},
    "RoiPool": {"output_size": (64, 44), "spatial_scale": 1, "sampling_ratio": -1, "aligned": False},
}


def test_constructor_accepts_what_opengait_accepts():
    params = inspect.signature(GaitAlign.__init__).parameters
    names = list(params)[1:]
    for k, (name, default) in enumerate(OPENGAIT_GAITALIGN["init"]):
        assert names[k] == name and params[name].default == default
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    # positional, keyword and the extra keywords an OpenGait config may carry
    for layer in (GaitAlign(64, 44, 1), GaitAlign(H=64, W=44, eps=1, type="GaitAlign", some_option=3)):
        for name, value in OPENGAIT_GAITALIGN["attributes"].items():
            assert getattr(layer, name) == value
    assert list(inspect.signature(GaitAlign.forward).parameters)[1:] == OPENGAIT_GAITALIGN["forward"]


@pytest.mark.parametrize("H, W", [(64, 44), (32, 22), (64, 45)])
def test_pad_and_roipool_attributes(H, W):
    layer = GaitAlign(H, W)
    assert isinstance(layer.Pad, OPENGAIT_GAITALIGN["Pad"]["type"])
    assert tuple(layer.Pad.padding) == (W // 2, W // 2, 0, 0)
    spec = dict(OPENGAIT_GAITALIGN["RoiPool"], output_size=(H, W))
    for name, value in spec.items():
        assert getattr(layer.RoiPool, name) == value, name
    assert GaitAlign(mode="exact").RoiPool.aligned is True
    # no parameters or buffers: OpenGait's and gaitedge's state dicts stay key-for-key the same
    assert not list(layer.state_dict())


def test_roipool_is_torchvisions_roi_align_over_the_padded_map():
    try:
        import torchvision.ops
    except Exception as e:  # absent, or a build for another torch whose ops do not load
        pytest.skip(f"torchvision unavailable: {e}")
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 8:60, 20:40] = 1
    x = torch.rand(2, 3, 64, 64)
    ratio = torch.tensor([0.4, 0.7])
    layer = GaitAlign()
    boxes = ops.align_boxes(mask, ratio)  # input pixels; OpenGait's rois are in the padded map
    rois = torch.cat([torch.arange(2.0).view(-1, 1), boxes + torch.tensor([22.0, 0, 22, 0])], 1)
    via_attrs = layer.RoiPool(layer.Pad(x), rois)
    torch.testing.assert_close(via_attrs, layer(x, mask, ratio), rtol=1e-5, atol=1e-5)
    assert isinstance(layer.RoiPool, torchvision.ops.RoIAlign)
