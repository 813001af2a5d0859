"""OpenGait checkpoint interchange: exact key names (built from the architecture description), loading, errors."""

import pytest
import torch
import torch.nn.functional as F

from gaitedge.models import (CheckpointMismatchError, GaitGL, Segmentation, UNet, load_opengait_checkpoint,
                             save_opengait_checkpoint)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def unet_expected(prefix=""):
    """OpenGait U_Net keys: ConvBlock = conv.{0,3} Conv2d(bias) + conv.{1,4} BN; UpConv = up.1 Conv2d + up.2 BN."""
    widths = {1: (3, 16), 2: (16, 32), 3: (32, 64), 4: (64, 128)}
    keys = {}

    def block(name, cin, cout):
        keys[f"{name}.conv.0.weight"], keys[f"{name}.conv.0.bias"] = (cout, cin, 3, 3), (cout,)
        keys[f"{name}.conv.3.weight"], keys[f"{name}.conv.3.bias"] = (cout, cout, 3, 3), (cout,)
        for i in (1, 4):
            for b in BN:
                keys[f"{name}.conv.{i}.{b}"] = () if b == "num_batches_tracked" else (cout,)

    for i, (cin, cout) in widths.items():
        block(f"Conv{i}", cin, cout)
    for i in (4, 3, 2):
        cin, cout = widths[i][1], widths[i][0]
        keys[f"Up{i}.up.1.weight"], keys[f"Up{i}.up.1.bias"] = (cout, cin, 3, 3), (cout,)
        for b in BN:
            keys[f"Up{i}.up.2.{b}"] = () if b == "num_batches_tracked" else (cout,)
        block(f"Up_conv{i}", 2 * cout, cout)
    keys["Conv_1x1.weight"], keys["Conv_1x1.bias"] = (1, 16, 1, 1), (1,)
    return {prefix + k: v for k, v in keys.items()}


def gaitgl_expected(classes=74):
    """OpenGait GaitGL (CASIA-B) keys: BasicConv3d holds .conv3d; GLConv holds global_/local_conv3d."""
    keys = {
        "conv3d.0.conv3d.weight": (32, 1, 3, 3, 3),
        "LTA.0.conv3d.weight": (32, 32, 3, 1, 1),
        "HPP.p": (1,),
        "Head0.fc_bin": (64, 128, 128),
        "Head1.fc_bin": (64, 128, classes),
    }
    for name, cin, cout in (("GLConvA0", 32, 64), ("GLConvA1", 64, 128), ("GLConvB2", 128, 128)):
        for branch in ("global", "local"):
            keys[f"{name}.{branch}_conv3d.conv3d.weight"] = (cout, cin, 3, 3, 3)
    for b in BN:
        keys[f"Bn.{b}"] = () if b == "num_batches_tracked" else (128,)
    return keys


def shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_unet_keys_exact():
    assert shapes(UNet()) == unet_expected()
    assert shapes(Segmentation()) == unet_expected("Backbone.")
    params = [s for k, s in unet_expected().items() if "running" not in k and "num_b" not in k]
    assert sum(torch.Size(s).numel() for s in params) == 537_425


def test_gaitgl_keys_exact():
    assert shapes(GaitGL()) == gaitgl_expected()


def _randomise_bn(model):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(123)


def opengait_gaitgl_reference(sd, sils):
    """GaitGL eval forward written from the layer description (notes §3.2), straight from a state dict."""
    x = sils.unsqueeze(1)  # [n, 1, s, h, w]
    leaky = F.leaky_relu
    x = leaky(F.conv3d(x, sd["conv3d.0.conv3d.weight"], padding=1))
    x = leaky(F.conv3d(x, sd["LTA.0.conv3d.weight"], stride=(3, 1, 1)))

    def glconv(x, name, fm_sign):
        g = F.conv3d(x, sd[f"{name}.global_conv3d.conv3d.weight"], padding=1)
        strips = x.split(x.shape[3] // 8, dim=3)
        lo = torch.cat([F.conv3d(t, sd[f"{name}.local_conv3d.conv3d.weight"], padding=1) for t in strips], dim=3)
        return leaky(torch.cat([g, lo], dim=3)) if fm_sign else leaky(g) + leaky(lo)

    x = glconv(x, "GLConvA0", False)
    x = F.max_pool3d(x, (1, 2, 2))
    x = glconv(glconv(x, "GLConvA1", False), "GLConvB2", True)
    x = x.max(dim=2)[0]  # [n, c, h, w]
    n, c = x.shape[:2]
    p = sd["HPP.p"]
    z = x.reshape(n, c, 64, -1).clamp(min=1e-6).pow(p).mean(-1).pow(1 / p)  # [n, c, 64]
    gait = torch.einsum("ncp,pcd->ndp", z, sd["Head0.fc_bin"])
    mean, var = sd["Bn.running_mean"][None, :, None], sd["Bn.running_var"][None, :, None]
    return (gait - mean) / torch.sqrt(var + 1e-5) * sd["Bn.weight"][None, :, None] + sd["Bn.bias"][None, :, None]


def test_gaitgl_loads_and_matches_layer_description(tmp_path):
    src = GaitGL()
    _randomise_bn(src)
    with torch.no_grad():
        src.HPP.p.fill_(4.0)
    path = tmp_path / "GaitGL-80000.pt"
    torch.save({"model": src.state_dict(), "optimizer": {"state": {}, "param_groups": []}, "scheduler": {},
                "iteration": 80000}, path)
    dst = GaitGL()
    res = load_opengait_checkpoint(dst, path)
    assert res.ok and res.target == "all" and len(res.loaded) == len(gaitgl_expected())
    sils = (torch.rand(2, 3, 64, 44) > 0.4).float()
    with torch.no_grad():
        emb = dst.eval()({"aligned_sils": sils})["inference_feat"]["embeddings"]
        ref = opengait_gaitgl_reference(src.state_dict(), sils)
    torch.testing.assert_close(emb, ref, rtol=1e-4, atol=1e-4)


def test_segmentation_checkpoint_into_unet_and_segmentation(tmp_path):
    seg = Segmentation()
    _randomise_bn(seg)
    path = tmp_path / "Segmentation-25000.pt"
    save_opengait_checkpoint(seg, path, iteration=25000)
    ck = torch.load(path, weights_only=True)
    assert set(ck) == {"model", "iteration"} and ck["iteration"] == 25000
    assert all(k.startswith("Backbone.") for k in ck["model"])
    x = torch.randn(2, 3, 32, 32)
    unet = UNet()
    assert load_opengait_checkpoint(unet, path).ok
    seg2 = Segmentation()
    assert load_opengait_checkpoint(seg2, path).ok
    ref = seg.Backbone.eval()(x)
    torch.testing.assert_close(unet.eval()(x), ref)
    torch.testing.assert_close(seg2.Backbone.eval()(x), ref)


def test_ddp_prefix_and_plain_state_dict():
    src = GaitGL(num_classes=5)
    sd = {"module." + k: v for k, v in src.state_dict().items()}
    dst = GaitGL(num_classes=5)
    assert load_opengait_checkpoint(dst, sd).ok
    torch.testing.assert_close(dst.Head1.fc_bin, src.Head1.fc_bin)


def test_strict_reports_missing_unexpected_and_shape():
    sd = GaitGL(num_classes=10).state_dict()
    del sd["HPP.p"]
    sd["Extra.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as err:
        load_opengait_checkpoint(GaitGL(), sd)
    msg = str(err.value)
    assert "missing (1): HPP.p" in msg and "unexpected (1): Extra.weight" in msg
    assert "Head1.fc_bin: checkpoint (64, 128, 10) vs model (64, 128, 74)" in msg
    # also a ValueError-based CheckpointError on one line, so the CLI reports it as a one-line error
    assert isinstance(err.value, CheckpointMismatchError) and isinstance(err.value, ValueError) and "\n" not in msg
    m = GaitGL()
    before = m.Head1.fc_bin.clone()
    res = load_opengait_checkpoint(m, sd, strict=False)
    assert res.missing == ["HPP.p"] and res.unexpected == ["Extra.weight"] and len(res.mismatched) == 1
    assert "Head0.fc_bin" in res.loaded and torch.equal(m.Head1.fc_bin, before)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_opengait_checkpoint(GaitGL(), tmp_path / "nope.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pt"):
        load_opengait_checkpoint(GaitGL(), bad)
    pickled = tmp_path / "object.pt"
    torch.save({"model": {"x": torch.zeros(1)}, "extra": torch.nn.ReLU()}, pickled)  # needs full unpickling
    with pytest.raises(ValueError, match="object.pt"):
        load_opengait_checkpoint(GaitGL(), pickled)
    with pytest.raises(ValueError, match="no state dict"):
        load_opengait_checkpoint(GaitGL(), {"model": {}})
    with pytest.raises(ValueError, match="not a tensor state dict"):
        load_opengait_checkpoint(GaitGL(), {"a": 1})


def test_round_trip_keeps_keys_and_values(tmp_path):
    src = UNet()
    _randomise_bn(src)
    path = tmp_path / "u.pt"
    save_opengait_checkpoint(src, path)
    dst = UNet()
    load_opengait_checkpoint(dst, path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_bad_files_raise_a_clear_error_naming_them(tmp_path):
    from gaitedge.models import CheckpointError, read_opengait_state_dict

    evil = tmp_path / "evil.pt"
    torch.save({"model": {"x": torch.zeros(1)}, "extra": torch.nn.ReLU()}, evil)
    lst = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], lst)
    trunc = tmp_path / "trunc.pt"
    torch.save({"model": GaitGL().state_dict()}, trunc)
    trunc.write_bytes(trunc.read_bytes()[:5000])
    for path in (evil, lst, trunc):
        for load in (read_opengait_state_dict, lambda p: load_opengait_checkpoint(GaitGL(), p)):
            with pytest.raises(CheckpointError, match=path.name) as err:
                load(path)
            # torch's own message would advise weights_only=False, which must never reach the user
            assert "weights_only" not in str(err.value) and err.value.__cause__ is None
            assert err.value.__context__ is None or err.value.__suppress_context__


def test_save_leaves_out_absent_optimizer_and_scheduler(tmp_path):
    # OpenGait's resume (optimizer_reset: false) loads any "optimizer"/"scheduler" key it finds
    model = GaitGL(num_classes=5)
    path = tmp_path / "GaitGL-00010.pt"
    save_opengait_checkpoint(model, path, iteration=10)
    ck = torch.load(path, weights_only=True)
    assert set(ck) == {"model", "iteration"}
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)  # OpenGait's GaitGL solver
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5])
    for key, obj in (("optimizer", opt), ("scheduler", sched)):
        if key in ck:
            obj.load_state_dict(ck[key])
    save_opengait_checkpoint(model, path, iteration=10, optimizer=opt, scheduler=sched)
    ck = torch.load(path, weights_only=True)
    assert set(ck) == {"model", "optimizer", "scheduler", "iteration"}
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])


def test_bare_unet_round_trips_with_opengait_segmentation_layout(tmp_path):
    layout = unet_expected("Backbone.")  # what OpenGait's Segmentation model holds
    src = UNet()
    _randomise_bn(src)
    ours = tmp_path / "Segmentation-00100.pt"
    save_opengait_checkpoint(src, ours, iteration=100)
    sd = torch.load(ours, weights_only=True)["model"]
    assert {k: tuple(v.shape) for k, v in sd.items()} == layout
    seg = Segmentation()
    seg.load_state_dict(sd, strict=True)  # OpenGait's strict load
    back = UNet()
    assert load_opengait_checkpoint(back, ours).ok
    x = torch.randn(2, 3, 32, 32)
    ref = src.eval()(x)
    torch.testing.assert_close(seg.Backbone.eval()(x), ref)
    torch.testing.assert_close(back.eval()(x), ref)
    # and a file in OpenGait's layout, written as data, into a bare UNet
    g = torch.Generator().manual_seed(0)
    data = {k: (torch.tensor(7) if "num_batches" in k else torch.rand(s, generator=g) + 0.5) for k, s in layout.items()}
    theirs = tmp_path / "Segmentation-25000.pt"
    torch.save({"model": data, "optimizer": {"state": {}, "param_groups": []}, "iteration": 25000}, theirs)
    unet = UNet()
    assert load_opengait_checkpoint(unet, theirs).ok
    for k, v in unet.state_dict().items():
        assert torch.equal(v, data["Backbone." + k]), k


def test_training_loader_reports_other_models_weights_as_a_mismatch(tmp_path):
    from gaitedge.training.checkpoint import load_model_weights

    path = tmp_path / "other.pt"
    sd = GaitGL(num_classes=10).state_dict()
    torch.save({"model": sd}, path)
    with pytest.raises(CheckpointMismatchError, match="do not fit the model") as err:  # shapes differ
        load_model_weights(GaitGL(), path)
    assert str(path) in str(err.value) and "\n" not in str(err.value) and isinstance(err.value, RuntimeError)
    torch.save({"model": {"fc.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointMismatchError, match="do not match the model"):
        load_model_weights(GaitGL(), path)
