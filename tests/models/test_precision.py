"""Mixed precision (CPU autocast bf16), channels_last and torch.compile smoke tests for the plain-PyTorch models."""

import pytest
import torch

from gaitedge.models import GaitGL, GaitPart, GaitSet, UNet
from tests.models._helpers import sil_batch


def small_gaitgl():
    # narrow GaitGL on 32x22 frames: bf16 Conv3d on CPU is slow at full size
    return GaitGL(num_classes=6, channels=(8, 16, 32), parts=32)


@pytest.mark.parametrize("make, h, w", [(small_gaitgl, 32, 22), (GaitSet, 64, 44), (GaitPart, 64, 44)])
def test_autocast_bf16_close_to_fp32(make, h, w):
    m = make().eval()
    batch = sil_batch(n=2, s=3, h=h, w=w)
    ref = m(batch)["inference_feat"]["embeddings"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(batch)["inference_feat"]["embeddings"]
    assert torch.isfinite(out).all()
    rel = (out.float() - ref).norm() / ref.norm()
    assert rel < 0.05, rel


def test_autocast_bf16_backward():
    m = small_gaitgl()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(sil_batch(n=2, s=3, h=32, w=22))
        loss = out["training_feat"]["softmax"]["logits"].float().logsumexp(1).mean()
    loss.backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(p.grad.dtype == torch.float32 for p in m.parameters())


def channels_last_(model):
    """4-D weights to channels_last, 5-D (Conv3d) to channels_last_3d (``Module.to`` refuses mixed ranks)."""
    for p in model.parameters():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)
        elif p.dim() == 5:
            p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    return model


def test_unet_channels_last_matches():
    m = UNet().eval()
    x = torch.randn(2, 3, 32, 32)
    ref = m(x)
    seen = {}
    m.Conv2.register_forward_hook(lambda mod, i, o: seen.__setitem__("x2", o))
    out = channels_last_(m)(x)  # NCHW input: the U-Net switches it to the weights' layout
    assert seen["x2"].is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_gaitgl_channels_last_3d_matches():
    m = small_gaitgl().eval()
    batch = sil_batch(n=1, s=3, h=32, w=22)
    ref = m(batch)["inference_feat"]["embeddings"]
    out = channels_last_(m)(batch)["inference_feat"]["embeddings"]
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
