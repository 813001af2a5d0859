"""Property-based tests of every op (hypothesis): random shapes, dtypes, layouts and non-finite values.

Properties: equality with the pure-PyTorch reference, frame independence of the forward, and a backward that is
bitwise the same for a frame computed alone and inside any batch. Shapes include N = 0, H or W of 1 or 2, and
widths that are not multiples of 64 (the CPU kernels' bit words); layouts include channels_last, strided views and
stride-0 (expanded) batches. Example counts: tests/conftest.py.
"""

import pytest
import torch

import gaitedge.ops as ops
from gaitedge.ops import _reference as ref
from tests.utils import float_bits

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
MASKS = [torch.bool, torch.uint8] + FLOATS
LAYOUTS = ["contiguous", "channels_last", "strided", "stride0"]
TOL = {torch.float64: 1e-6, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}

sizes = st.sampled_from([1, 2, 3, 5, 17, 63, 64, 65, 90, 130])


@st.composite
def frames(draw, max_n=4):
    """(n, h, w, seed): small batches, including empty ones and one- or two-pixel frames."""
    return draw(st.integers(0, max_n)), draw(sizes), draw(sizes), draw(st.integers(0, 2**31 - 1))


def _layout(t: torch.Tensor, kind: str) -> torch.Tensor:
    """t with the same values (all frames equal to the first for stride0) in another memory layout."""
    if kind == "channels_last":
        return t.contiguous(memory_format=torch.channels_last)
    if kind == "strided":
        wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
        wide[..., ::2] = t
        return wide[..., ::2]
    if kind == "stride0" and t.shape[0] > 0:
        return t[:1].expand(t.shape)
    return t.contiguous()


def _silhouettes(n, h, w, seed, dtype, specials=False):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.arange(h).view(h, 1), torch.arange(w).view(1, w)
    cy, cx = torch.rand(n, 1, 1, generator=g) * h, torch.rand(n, 1, 1, generator=g) * w
    ry, rx = 1 + torch.rand(n, 1, 1, generator=g) * h / 2, 1 + torch.rand(n, 1, 1, generator=g) * w / 3
    body = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).unsqueeze(1)  # [n, 1, h, w]
    if dtype == torch.bool:
        return body
    if dtype == torch.uint8:
        return body.to(torch.uint8) * torch.randint(1, 256, body.shape, generator=g, dtype=torch.uint8)
    soft = body.float() * (0.5 + 0.5 * torch.rand(body.shape, generator=g)) + 0.3 * torch.rand(body.shape, generator=g)
    if specials and soft.numel():
        _sprinkle(soft, g)
    return soft.to(dtype)


def _sprinkle(t: torch.Tensor, g: torch.Generator, k: int = 3) -> None:
    """Puts NaN, inf and -inf at random positions of t (in place)."""
    flat = t.view(-1)
    idx = torch.randint(0, flat.numel(), (k,), generator=g)
    flat[idx] = torch.tensor([float("nan"), float("inf"), float("-inf")][:k], dtype=t.dtype)


def _close(got, want, dtype):
    assert got.shape == want.shape and got.dtype == want.dtype
    torch.testing.assert_close(got, want, rtol=TOL[dtype], atol=TOL[dtype], equal_nan=True)


def _grads(out, out_r, inp, inp_r, grad):
    """d(out)/d(inp) and the reference's. Where the reference's output does not depend on its input at all (an
    empty batch, or exact mode's empty boxes) it builds no graph, and its gradient is zero."""
    (got,) = torch.autograd.grad(out, inp, grad)
    if not out_r.requires_grad:
        return got, torch.zeros_like(inp_r)
    (want,) = torch.autograd.grad(out_r, inp_r, grad)
    return got, want


# ---- Gait Synthesis ----------------------------------------------------------------------------------------------------


@given(frames(), st.sampled_from(FLOATS), st.sampled_from(MASKS), st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS),
       st.sampled_from([1, 3, 5, 7]), st.sampled_from([0.5, 0.0, 0.25, 0.99999999999, 200.5]), st.booleans())
def test_gait_synthesis_matches_reference(shape, dtype, sil_dtype, layout, sil_layout, k, threshold, specials):
    n, h, w, seed = shape
    g = torch.Generator().manual_seed(seed)
    sil = _layout(_silhouettes(n, h, w, seed, sil_dtype, specials), sil_layout)
    prob = torch.rand(n, 1, h, w, generator=g)
    if specials and prob.numel():
        _sprinkle(prob, g)
    prob = _layout(prob.to(dtype), layout)
    edge, interior = ops.edge_masks(sil, k, threshold)
    edge_r, interior_r = ref.edge_masks(sil, k, threshold)
    assert torch.equal(edge, edge_r) and torch.equal(interior, interior_r)
    p, p_r = prob.detach().clone().requires_grad_(True), prob.detach().clone().requires_grad_(True)
    out, out_r = ops.gait_synthesis(p, sil, k, threshold), ref.gait_synthesis(p_r, sil, k, threshold)
    _close(out, out_r, dtype)
    grad = torch.randn(out.shape, generator=g).to(dtype)
    if specials and grad.numel():
        _sprinkle(grad, g)
    _close(*_grads(out, out_r, p, p_r, grad), dtype)


# ---- GaitAlign ---------------------------------------------------------------------------------------------------------


out_sizes = st.tuples(st.integers(1, 12), st.integers(1, 10))
ratios = st.floats(0.05, 3.0)


@given(frames(max_n=3), st.integers(1, 3), st.sampled_from(FLOATS), st.sampled_from(MASKS), st.sampled_from(LAYOUTS),
       st.sampled_from(["opengait", "exact"]), out_sizes, ratios, st.booleans())
def test_gait_align_matches_reference(shape, c, dtype, mask_dtype, layout, mode, out_size, r, specials):
    n, h, w, seed = shape
    g = torch.Generator().manual_seed(seed)
    mask = _silhouettes(n, h, w, seed, mask_dtype, specials)
    ratio = torch.full((n,), r) * (0.5 + torch.rand(n, generator=g))
    x = torch.rand(n, c, h, w, generator=g)
    if specials and x.numel():
        _sprinkle(x, g)
    x = _layout(x.to(dtype), layout)
    assert torch.equal(ops.align_boxes(mask, ratio, out_size, mode=mode), ref.align_boxes(mask, ratio, out_size,
                                                                                           mode=mode))
    xx, xr = x.detach().clone().requires_grad_(True), x.detach().clone().requires_grad_(True)
    out = ops.gait_align(xx, mask, ratio, out_size, mode=mode)
    out_r = ref.gait_align(xr, mask, ratio, out_size, mode=mode)
    _close(out, out_r, dtype)
    grad = torch.randn(out.shape, generator=g).to(dtype)
    if specials and grad.numel():
        _sprinkle(grad, g)
    _close(*_grads(out, out_r, xx, xr, grad), dtype)


@given(frames(max_n=3), st.sampled_from(FLOATS), st.sampled_from(MASKS), st.sampled_from(LAYOUTS),
       st.sampled_from(["opengait", "exact"]), st.sampled_from([1, 3, 5]), out_sizes, ratios, st.booleans())
def test_gait_edge_align_matches_reference(shape, dtype, sil_dtype, layout, mode, k, out_size, r, specials):
    n, h, w, seed = shape
    g = torch.Generator().manual_seed(seed)
    sil = _silhouettes(n, h, w, seed, sil_dtype, specials)
    ratio = torch.full((n,), r) * (0.5 + torch.rand(n, generator=g))
    prob = torch.rand(n, 1, h, w, generator=g)
    if specials and prob.numel():
        _sprinkle(prob, g)
    prob = _layout(prob.to(dtype), layout)
    p, p_r = prob.detach().clone().requires_grad_(True), prob.detach().clone().requires_grad_(True)
    out = ops.gait_edge_align(p, sil, ratio, k, out_size, mode=mode)
    out_r = ref.gait_edge_align(p_r, sil, ratio, k, out_size, mode=mode)
    _close(out, out_r, dtype)
    grad = torch.randn(out.shape, generator=g).to(dtype)
    if specials and grad.numel():
        _sprinkle(grad, g)
    _close(*_grads(out, out_r, p, p_r, grad), dtype)


# ---- frame independence -------------------------------------------------------------------------------------------------


@given(frames(max_n=5), st.sampled_from(FLOATS), st.sampled_from(MASKS), st.sampled_from(["opengait", "exact"]),
       st.sampled_from([1, 3, 5]), st.booleans(), st.permutations(range(5)))
def test_frames_are_independent_and_backward_is_bitwise_batch_invariant(shape, dtype, sil_dtype, mode, k, specials,
                                                                        perm):
    # Every op is a map over frames: a frame's outputs and gradients, signs of zero and NaN payloads included, are
    # the same bits computed alone as inside a batch in any order, whatever the neighbours hold.
    n, h, w, seed = shape
    n = max(n, 1)
    order = [i for i in perm if i < n]
    g = torch.Generator().manual_seed(seed)
    sil = _silhouettes(n, h, w, seed, sil_dtype, specials)
    ratio = 0.2 + torch.rand(n, generator=g)
    prob = torch.rand(n, 1, h, w, generator=g)
    grad = torch.randn(n, 1, 16, 11, generator=g)
    if specials:
        _sprinkle(prob, g)
        _sprinkle(grad, g)
    prob, grad = prob.to(dtype), grad.to(dtype)

    def run(idx):
        p = prob[idx].clone().requires_grad_(True)
        out = ops.gait_edge_align(p, sil[idx], ratio[idx], k, (16, 11), mode=mode)
        (gp,) = torch.autograd.grad(out, p, grad[idx])
        x = prob[idx].clone().requires_grad_(True)
        al = ops.gait_align(x, sil[idx], ratio[idx], (16, 11), mode=mode)
        (gx,) = torch.autograd.grad(al, x, grad[idx])
        s = prob[idx].clone().requires_grad_(True)
        ms = ops.gait_synthesis(s, sil[idx], k)
        (gs,) = torch.autograd.grad(ms, s, prob[idx])
        return [out, gp, al, gx, ms, gs, ops.align_boxes(sil[idx], ratio[idx], (16, 11), mode=mode)]

    batch = run(order)
    for pos, i in enumerate(order):
        alone = run([i])
        for b, a in zip(batch, alone):
            assert torch.equal(float_bits(b[pos]), float_bits(a[0]))


# ---- bad arguments -------------------------------------------------------------------------------------------------------


@given(st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.5]), st.integers(0, 2),
       st.sampled_from(FLOATS))
def test_non_finite_or_non_positive_ratio_is_an_error_naming_it(bad, pos, dtype):
    mask = torch.ones(3, 1, 8, 8)
    ratio = torch.tensor([0.5, 0.6, 0.7])
    ratio[pos] = bad
    ratio = ratio.to(dtype)
    for call in (lambda: ops.align_boxes(mask, ratio), lambda: ops.gait_align(mask, mask, ratio),
                 lambda: ops.gait_edge_align(mask, mask, ratio)):
        with pytest.raises(ValueError, match="ratio"):
            call()
