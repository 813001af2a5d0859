"""save_opengait_checkpoint with an optimiser: the state must load into the optimiser OpenGait itself builds.

OpenGait's parameter groups are kept here as data (names per group, in OpenGait's order, from its model code:
BaseModel.get_optimizer, GaitEdge.finetune_parameters, U_Net(freeze_half=True)); an "OpenGait" optimiser is
built from them with OpenGait's solver, loads what was saved, and takes a step.
"""

import pytest
import torch

from gaitedge.models import GaitEdge, GaitGL, Segmentation, UNet, save_opengait_checkpoint
from gaitedge.models.checkpoint import CheckpointError
from gaitedge.training.builders import build_optimizer, build_scheduler
from gaitedge.training.config import load_config


def _conv_block(module):  # ConvBlock: [Conv, BN, ReLU] x 2
    return [f"Backbone.{module}.conv.{i}.{p}" for i in (0, 1, 3, 4) for p in ("weight", "bias")]


def _up_conv(module):  # UpConv: Upsample, Conv, BN, ReLU
    return [f"Backbone.{module}.up.{i}.{p}" for i in (1, 2) for p in ("weight", "bias")]


# U_Net with freeze_half: Conv1-Conv4 frozen; the decoder trains, in registration order
UNET_DECODER = (_up_conv("Up4") + _conv_block("Up_conv4") + _up_conv("Up3") + _conv_block("Up_conv3")
                + _up_conv("Up2") + _conv_block("Up_conv2") + ["Backbone.Conv_1x1.weight", "Backbone.Conv_1x1.bias"])
# GaitGL for CASIA-B, registration order: conv3d, LTA, GLConvA0, MaxPool0, GLConvA1, GLConvB2, HPP, Head0, Bn, Head1
GAITGL = ["conv3d.0.conv3d.weight", "LTA.0.conv3d.weight",
          *[f"GLConv{s}.{b}_conv3d.conv3d.weight" for s in ("A0", "A1", "B2") for b in ("global", "local")],
          "HPP.p", "Head0.fc_bin", "Bn.weight", "Bn.bias", "Head1.fc_bin"]
OPENGAIT = {  # model: (solver, groups)
    "GaitGL": (torch.optim.Adam, [GAITGL]),
    "Segmentation": (torch.optim.SGD, [UNET_DECODER]),
    "GaitEdge": (torch.optim.Adam, [UNET_DECODER, GAITGL]),
}


def test_layout_data_counts():
    assert len(UNET_DECODER) == 38 and len(GAITGL) == 13


def _ours(kind):
    """A model and the optimiser/scheduler gaitedge's shipped config trains it with, after two steps."""
    torch.manual_seed(0)
    if kind == "GaitGL":
        model, cfg = GaitGL(num_classes=5), load_config("casiab_phase1_rec")
    elif kind == "Segmentation":
        model, cfg = Segmentation(freeze_encoder=True), load_config("casiab_phase1_seg")
    else:
        model, cfg = GaitEdge(num_classes=5), load_config("casiab_phase2_gaitedge")
    opt = build_optimizer(model, cfg["optimizer"])
    sched = build_scheduler(opt, {"milestones": [1], "gamma": 0.1})
    for _ in range(2):
        opt.zero_grad()
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.randn_like(p)
        opt.step()
        sched.step()
    return model, opt, sched


def _opengait_optimizer(kind, model, state_names=False):
    solver, groups = OPENGAIT[kind]
    params = dict(model.named_parameters())
    kwargs = {"momentum": 0.9} if solver is torch.optim.SGD else {}
    opt = solver([{"params": [params[n] for n in names], "lr": 1.0} for names in groups], lr=1.0, **kwargs)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1])


@pytest.mark.parametrize("kind", ["GaitGL", "Segmentation", "GaitEdge"])
def test_saved_state_loads_into_opengaits_optimizer(kind, tmp_path):
    model, opt, sched = _ours(kind)
    path = tmp_path / f"{kind}-00002.pt"
    save_opengait_checkpoint(model, path, iteration=2, optimizer=opt, scheduler=sched)
    ck = torch.load(path, weights_only=True)
    theirs, their_sched = _opengait_optimizer(kind, model)
    theirs.load_state_dict(ck["optimizer"])
    their_sched.load_state_dict(ck["scheduler"])
    # every parameter carries its own state (not a neighbour's) and its own group's settings
    ours_state = {p: opt.state[p] for g in opt.param_groups for p in g["params"]}
    ours_group = {p: g for g in opt.param_groups for p in g["params"]}
    for group in theirs.param_groups:
        for p in group["params"]:
            for key, value in ours_state[p].items():
                assert torch.equal(theirs.state[p][key], value), key
            assert group["lr"] == ours_group[p]["lr"] and group["weight_decay"] == ours_group[p]["weight_decay"]
    assert their_sched.get_last_lr() == [g["lr"] for g in theirs.param_groups]
    # and OpenGait's next step runs
    model.zero_grad()
    for p in model.parameters():
        p.grad = torch.ones_like(p) if p.requires_grad else None
    theirs.step()


def test_gaitedge_groups_are_in_opengaits_order(tmp_path):
    model, opt, sched = _ours("GaitEdge")
    assert [len(g["params"]) for g in opt.param_groups] == [13, 38]  # gaitedge's own order: [others, Backbone]
    path = tmp_path / "GaitEdge-00002.pt"
    save_opengait_checkpoint(model, path, optimizer=opt, scheduler=sched)
    ck = torch.load(path, weights_only=True)
    assert [len(g["params"]) for g in ck["optimizer"]["param_groups"]] == [38, 13]
    lrs = [g["lr"] for g in ck["optimizer"]["param_groups"]]
    assert lrs == pytest.approx([1e-6, 1e-5])  # segmenter, recogniser (after the decay)
    assert ck["scheduler"]["base_lrs"] == [1e-5, 1e-4]


@pytest.mark.parametrize("case, words", [
    ("segmentation_trains_encoder", "OpenGait keeps frozen"),
    ("segmentation_with_adam", "OpenGait trains Segmentation with SGD"),
    ("gaitgl_with_sgd", "OpenGait trains GaitGL with Adam"),
    ("gaitedge_mixed_group", "settings differ"),
    ("gaitedge_trains_encoder", "freeze_encoder=True"),
    ("step_scheduler", "MultiStepLR"),
])
def test_refused_before_anything_is_written(case, words, tmp_path):
    sched = None
    if case == "segmentation_trains_encoder":
        model = Segmentation()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    elif case == "segmentation_with_adam":
        model = Segmentation(freeze_encoder=True)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    elif case == "gaitgl_with_sgd":
        model = GaitGL(num_classes=5)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
    elif case == "gaitedge_mixed_group":  # two recogniser tensors at another lr: OpenGait has one recogniser group
        model = GaitEdge(num_classes=5)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        opt = torch.optim.Adam([{"params": [p for n, p in named if n.startswith("conv3d")], "lr": 1e-3},
                                {"params": [p for n, p in named if not n.startswith("conv3d")]}], lr=1e-4)
    elif case == "gaitedge_trains_encoder":
        model = GaitEdge(num_classes=5, freeze_encoder=False)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    else:
        model = GaitGL(num_classes=5)
        opt = torch.optim.Adam(model.parameters())
        sched = torch.optim.lr_scheduler.StepLR(opt, 3)
    path = tmp_path / "out" / "x.pt"
    with pytest.raises(CheckpointError, match=words):
        save_opengait_checkpoint(model, path, optimizer=opt, scheduler=sched)
    assert not path.exists()


def test_bare_unet_uses_segmentation_layout(tmp_path):
    model = UNet(freeze_encoder=True)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.randn_like(p)
    opt.step()
    path = tmp_path / "Segmentation-00001.pt"
    save_opengait_checkpoint(model, path, optimizer=opt)
    seg = Segmentation()
    seg.load_state_dict(torch.load(path, weights_only=True)["model"])
    theirs, _ = _opengait_optimizer("Segmentation", seg)
    theirs.load_state_dict(torch.load(path, weights_only=True)["optimizer"])
    assert sum(len(g["params"]) for g in theirs.param_groups) == 38
