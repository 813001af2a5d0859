"""UNet inference: slices (``inference_chunk_mib``) give the same bits as one pass, and only run where that holds;
the sub-pixel upsampling (``inference_subpixel``) equals upsample-then-conv, and only runs in inference mode."""

import math

import pytest
import torch
import torch.nn.functional as F

from gaitedge.models import GaitEdge, Segmentation, UNet, to_channels_last_
from gaitedge.models.unet import subpixel_weight


def _unet(channels=(16, 32, 64, 128), mib=0.5, channels_last=False, seed=0):
    torch.manual_seed(seed)
    m = UNet(3, channels, inference_chunk_mib=mib).eval()
    for bn in m.modules():  # running statistics away from 0/1, so a wrong normalisation shows
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return to_channels_last_(m) if channels_last else m


def _slices(m):
    sizes = []
    m.Conv1.register_forward_hook(lambda mod, i, o: sizes.append(i[0].shape[0]))
    return sizes


def _whole(m, x):
    mib, m.inference_chunk_mib = m.inference_chunk_mib, 0.0
    try:
        return m(x)
    finally:
        m.inference_chunk_mib = mib


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("n", [32, 33, 47, 50])
def test_slices_give_the_whole_batch_bits(n, channels_last):
    # 32x32 frames of the paper's widths: the widest activation is 2*16*32*32 floats = 128 KiB, so 2 MiB = 16 frames
    m = _unet(mib=2.0, channels_last=channels_last)
    x = torch.randn(n, 3, 32, 32)
    with torch.inference_mode():
        assert m.chunk_frames(x) == 16
        seen = _slices(m)
        out = m(x)
        sizes = list(seen)
        ref = _whole(m, x)
    assert len(sizes) == n // 16 > 1
    assert sum(sizes) == n and min(sizes) >= 16 and max(sizes) <= 31  # balanced; no short remainder
    assert out.shape == (n, 1, 32, 32)
    assert torch.equal(out, ref)


def test_demo_sized_batch_default_budget():
    # the demo's segmenter (8-16-32-64) on 64x64 frames: 256 KiB per frame, 8 MiB = 32 frames
    m = _unet(channels=(8, 16, 32, 64), mib=8.0, channels_last=True)
    x = torch.randn(65, 3, 64, 64)
    with torch.no_grad():
        seen = _slices(m)
        out = m(x)
        sizes = list(seen)
        ref = _whole(m, x)
    assert sizes == [33, 32]
    assert torch.equal(out, ref)


def test_never_under_min_slice_frames():
    # a budget of 0.5 MiB is 4 frames here; slices stay at 16 frames or more, where oneDNN's kernels match
    m = _unet(mib=0.5)
    with torch.inference_mode():
        assert m.chunk_frames(torch.randn(40, 3, 32, 32)) == UNet.MIN_SLICE == 16


def test_one_pass_when_the_batch_is_under_two_slices():
    m = _unet()
    x = torch.randn(31, 3, 32, 32)  # 2 * 16 - 1 frames
    with torch.inference_mode():
        assert m.chunk_frames(x) == 0
        sizes = _slices(m)
        m(x)
        assert m(torch.randn(0, 3, 32, 32)).shape == (0, 1, 32, 32)
    assert sizes[0] == 31


def test_never_sliced_while_a_graph_is_recorded():
    m = _unet()
    x = torch.randn(40, 3, 32, 32, requires_grad=True)
    sizes = _slices(m)
    m(x).sum().backward()
    assert sizes == [40] and x.grad is not None


@pytest.mark.parametrize("which", ["all", "one"])
def test_never_sliced_with_batchnorm_in_training_mode(which):
    # batch statistics: a slice would be normalised by its own mean, so the slices would not be the batch's bits
    m = _unet()
    if which == "all":
        m.train()
    else:
        m.Up_conv2.conv[1].train()
    x = torch.randn(40, 3, 32, 32)
    with torch.no_grad():
        assert m.chunk_frames(x) == 0
        sizes = _slices(m)
        out = m(x)
    assert sizes == [40]
    m2 = _unet(mib=0.0)
    m2.load_state_dict(m.state_dict())
    m2.train(m.training)
    m2.Up_conv2.conv[1].train()
    with torch.no_grad():
        assert torch.equal(out, m2(x))


def test_off_and_other_devices_run_one_pass():
    off = _unet(mib=0.0)
    with torch.inference_mode():
        assert off.chunk_frames(torch.randn(64, 3, 32, 32)) == 0
    meta = _unet().to("meta")
    with torch.inference_mode():
        assert meta.chunk_frames(torch.randn(64, 3, 32, 32, device="meta")) == 0


BAD_OPTIONS = [("inference_chunk_mib", bad) for bad in (-1, -0.5, math.nan, math.inf, True, "8", None)] + [
    ("inference_subpixel", bad) for bad in (1, 0, "yes", None, 1.0)]


@pytest.mark.parametrize("option,bad", BAD_OPTIONS)
def test_bad_option_named(option, bad):
    with pytest.raises(ValueError, match=option):
        UNet(**{option: bad})
    with pytest.raises(ValueError, match=option):
        Segmentation(**{option: bad})
    with pytest.raises(ValueError, match=f"seg_{option}"):
        GaitEdge(num_classes=4, channels=(8, 16, 32), parts=4, seg_channels=(8, 16), **{f"seg_{option}": bad})


@pytest.mark.parametrize("option,value,default",
                         [("inference_chunk_mib", 2.0, 8.0), ("inference_subpixel", False, True)])
def test_gaitedge_sets_both_segmenters(option, value, default):
    m = GaitEdge(num_classes=4, channels=(8, 16, 32), parts=4, seg_channels=(8, 16), **{f"seg_{option}": value})
    for got, want in ((m.Backbone, value), (m.Frozen.Backbone, value), (UNet(), default),
                      (Segmentation().Backbone, default)):
        assert getattr(got, option) == want and type(getattr(got, option)) is type(want)


# -- sub-pixel upsampling ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("c_in,c_out,h,w", [(4, 3, 5, 7), (16, 8, 8, 8), (1, 1, 1, 1), (3, 5, 2, 9)])
def test_subpixel_weight_is_upsample_then_conv(c_in, c_out, h, w, channels_last):
    g = torch.Generator().manual_seed(c_in * 31 + h)
    x = torch.randn(2, c_in, h, w, dtype=torch.float64, generator=g)
    weight = torch.randn(c_out, c_in, 3, 3, dtype=torch.float64, generator=g)
    bias = torch.randn(c_out, dtype=torch.float64, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        weight = weight.contiguous(memory_format=torch.channels_last)
    ref = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)
    k = subpixel_weight(weight)
    assert k.shape == (c_in, c_out, 4, 4)
    assert k.is_contiguous(memory_format=torch.channels_last) or not channels_last
    out = F.conv_transpose2d(x, k, bias, stride=2, padding=1)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def _upsamples(m):
    calls = []
    for name in ("Up2", "Up3", "Up4"):
        getattr(m, name).up[0].register_forward_hook(lambda mod, i, o: calls.append(1))
    return calls


@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_mode_runs_subpixel_within_rounding(channels_last):
    m = _unet(mib=0.0, channels_last=channels_last)
    x = torch.randn(3, 3, 32, 24)
    calls = _upsamples(m)
    with torch.no_grad():
        plain = m(x)
    assert len(calls) == 3  # no_grad (a frozen copy in a training step): the plain path
    with torch.inference_mode():
        fast = m(x)
    assert len(calls) == 3  # inference mode: no upsampled copy made
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5)
    md = _unet(mib=0.0, channels_last=channels_last).double()
    with torch.no_grad():
        plain64 = md(x.double())
    with torch.inference_mode():
        fast64 = md(x.double())
    torch.testing.assert_close(fast64, plain64, rtol=0, atol=1e-12)  # the same function, re-associated


def test_subpixel_off_and_training_run_the_plain_path_bit_for_bit():
    x = torch.randn(3, 3, 32, 32)
    on, off = _unet(mib=0.0), _unet(mib=0.0)
    off.inference_subpixel = False
    calls = _upsamples(off)
    with torch.no_grad():
        plain = on(x)
    with torch.inference_mode():
        assert torch.equal(off(x), plain)
    assert len(calls) == 3
    on.Up3.up[2].train()  # one BatchNorm on batch statistics: no inference plan at all
    calls = _upsamples(on)
    with torch.inference_mode():
        on(x)
    assert len(calls) == 3
