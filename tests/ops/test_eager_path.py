"""The public op functions' eager path (gaitedge/ops/_eager.py) against the registered op's autograd: the same
numbers bit for bit, the same double-backward behaviour, and the registered path wherever anything but plain eager
execution is going on."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import gaitedge.ops as ops
from tests.utils import DEVICES, random_silhouettes

OPS = ["gait_synthesis", "gait_align", "gait_edge_align"]


def _inputs(device, dtype=torch.float64, seed=0):
    sil = random_silhouettes(5, 40, 32, seed, p_noise=0.0).to(device)
    g = torch.Generator().manual_seed(seed + 1)
    prob = torch.rand(sil.shape, generator=g, dtype=dtype).to(device).requires_grad_(True)
    ratio = (0.3 + 0.6 * torch.rand(5, generator=g)).to(device)
    return prob, sil, ratio


def _public(name, prob, sil, ratio):
    if name == "gait_synthesis":
        return ops.gait_synthesis(prob, sil, 3)
    if name == "gait_align":
        return ops.gait_align(prob, sil, ratio, (32, 22), mode="exact")
    return ops.gait_edge_align(prob, sil, ratio, 5, (32, 22))


def _registered(name, prob, sil, ratio):
    if name == "gait_synthesis":
        return torch.ops.gaitedge.gait_synthesis.default(prob, sil, 3, 0.5)
    if name == "gait_align":
        return torch.ops.gaitedge.gait_align.default(prob, sil, ratio, 32, 22, 1.0, "exact")[0]
    return torch.ops.gaitedge.gait_edge_align.default(prob, sil, ratio, 5, 32, 22, 1.0, "opengait")[0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_eager_path_is_bitwise_the_registered_path(device, name, dtype):
    prob, sil, ratio = _inputs(device, dtype)
    got, want = _public(name, prob, sil, ratio), _registered(name, prob, sil, ratio)
    # the eager path really was taken (a node of our Function, not torch.library's generated one)
    assert type(got.grad_fn).__name__.endswith("FunctionBackward")
    assert type(want.grad_fn).__name__.startswith("GeneratedBackwardFor_gaitedge")
    assert torch.equal(got, want)
    g = torch.randn(got.shape, generator=torch.Generator().manual_seed(3), dtype=dtype).to(device)
    assert torch.equal(torch.autograd.grad(got, prob, g)[0], torch.autograd.grad(want, prob, g)[0])


@pytest.mark.parametrize("name", OPS)
def test_eager_path_gradcheck(name):
    prob, sil, ratio = _inputs("cpu")
    assert torch.autograd.gradcheck(lambda p: _public(name, p, sil, ratio), (prob,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["gait_align", "gait_edge_align"])
def test_eager_backward_makes_no_zero_gradient_for_the_boxes(name):
    # The boxes output is non-differentiable: its gradient is never read, so the backward must not allocate and fill
    # one (on CUDA that is a kernel launch per step).
    prob, sil, ratio = _inputs("cpu")
    out = _public(name, prob, sil, ratio)
    g = torch.ones_like(out)
    with torch.autograd.profiler.profile() as prof:
        (grad,) = torch.autograd.grad(out, prob, g)
    called = {e.key for e in prof.key_averages()}
    assert f"gaitedge::_{name}_backward" in called and not called & {"aten::zeros", "aten::zero_", "aten::fill_"}
    expect = torch.autograd.grad(_registered(name, prob, sil, ratio), prob, g)[0]
    assert torch.equal(grad, expect)


@pytest.mark.parametrize("name", OPS)
def test_eager_path_without_grad_records_nothing(name):
    prob, sil, ratio = _inputs("cpu")
    with torch.no_grad():
        a = _public(name, prob, sil, ratio)
    b = _public(name, prob.detach(), sil, ratio)
    assert a.grad_fn is None and b.grad_fn is None and not a.requires_grad
    assert torch.equal(a, b) and torch.equal(a, _registered(name, prob, sil, ratio).detach())


def test_double_backward_matches_the_registered_path():
    prob, sil, ratio = _inputs("cpu")
    # gait_synthesis's backward (v -> v * edge) is linear and self-adjoint: differentiating it again, with respect to
    # the incoming gradient v, gives w * edge on both paths
    w = torch.rand(prob.shape, dtype=prob.dtype, generator=torch.Generator().manual_seed(4))
    second = []
    for fn in (_public, _registered):
        out = fn("gait_synthesis", prob, sil, ratio)
        v = torch.ones_like(out, requires_grad=True)
        (gp,) = torch.autograd.grad(out, prob, v, create_graph=True)
        second.append(torch.autograd.grad((gp * w).sum(), v)[0])
    assert torch.equal(second[0], second[1]) and torch.equal(second[0], w * ops.edge_masks(sil, 3)[0])
    # the align ops refuse, with the registered message, on both paths
    for fn in (_public, _registered):
        out = fn("gait_edge_align", prob, sil, ratio)
        v = torch.ones_like(out, requires_grad=True)
        (gp,) = torch.autograd.grad(out, prob, v, create_graph=True)
        with pytest.raises(RuntimeError, match="double backward through gaitedge's GaitAlign ops is not supported"):
            torch.autograd.grad(gp.sum(), v)


class _OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", OPS)
def test_dispatch_modes_see_the_registered_ops(name):
    prob, sil, ratio = _inputs("cpu")
    want = _registered(name, prob, sil, ratio)
    with _OpLog() as log:
        got = _public(name, prob, sil, ratio)
        (grad,) = torch.autograd.grad(got, prob, torch.ones_like(got))
    assert type(got.grad_fn).__name__.startswith("GeneratedBackwardFor_gaitedge")  # the registered path
    assert torch.equal(got, want)
    assert f"gaitedge.{name}.default" in log.names and f"gaitedge._{name}_backward.default" in log.names


def test_saved_sil_modified_in_place_is_detected():
    # the eager path saves sil with save_for_backward, as the registered one does: an in-place change between forward
    # and backward is an error, not a silently wrong gradient
    prob, sil, ratio = _inputs("cpu")
    out = ops.gait_edge_align(prob, sil, ratio)
    sil.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_activation_checkpointing_recomputes_the_same_graph():
    from torch.utils.checkpoint import checkpoint

    prob, sil, ratio = _inputs("cpu")

    def loss(p):
        return ops.gait_edge_align(p * 1.0, sil, ratio, 3, (16, 11)).pow(2).sum()

    (want,) = torch.autograd.grad(loss(prob), prob)
    (got,) = torch.autograd.grad(checkpoint(loss, prob, use_reentrant=False), prob)
    assert torch.equal(got, want)


def test_jit_trace_records_the_registered_op():
    prob, sil, ratio = _inputs("cpu")
    traced = torch.jit.trace(lambda p: ops.gait_edge_align(p, sil, ratio, 3, (16, 11)), (prob,), check_trace=False)
    assert "gaitedge::gait_edge_align" in str(traced.graph)
    assert torch.equal(traced(prob), ops.gait_edge_align(prob, sil, ratio, 3, (16, 11)))
