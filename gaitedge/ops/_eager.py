"""The eager-mode path of the public op functions: the registered op and its registered autograd, without
torch.library's per-call Python wrapper.

``torch.library.register_autograd`` installs a Python autograd kernel that, on every call, re-fills the default
arguments from the schema, builds a metadata object and applies a generated ``autograd.Function``; its backward
calls the backward op through another such kernel. On the 2-core CPU VM that cost ~50 µs per forward and ~65 µs per
backward of ``gait_edge_align`` on a tiny input, where the kernels themselves took 24 µs and 17.5 µs. On a GPU a
whole batch's fwd+bwd takes a few hundred microseconds of device time, so this host time is a large share of a step.

:func:`function` builds, per op, an ``autograd.Function`` with the *same* ``setup_context`` and ``backward``
functions that are registered with ``register_autograd``, whose forward and backward call the ops below autograd
(the dispatcher goes straight to the CPU/CUDA kernel). Results are bitwise those of the registered path (tested).

The registered path stays in charge wherever anything but plain eager execution is going on: under
``torch.compile``, ``torch.jit.trace``, functorch transforms, or a Python dispatch mode (FakeTensorMode, op loggers,
export), and for every direct caller of ``torch.ops.gaitedge.*``. Should a future torch drop one of the private
helpers used here, every call takes the registered path.

Measured on a tiny input (benchmarks/results/raw_ops_cpu.md): edge-align fwd+bwd 151 µs here against 207 µs through
the registered autograd, for 55 µs of kernel time.
"""

from typing import Callable, Sequence

import torch

try:
    from torch.utils._python_dispatch import _get_current_dispatch_mode
except ImportError:  # a torch without it: always take the registered path
    _get_current_dispatch_mode = None

__all__ = ["function", "call"]

_BELOW_AUTOGRAD = getattr(torch._C, "_AutoDispatchBelowAutograd", None)
_TRANSFORMS_ACTIVE = getattr(torch._C, "_are_functorch_transforms_active", None)


def _plain_eager() -> bool:
    return (
        _BELOW_AUTOGRAD is not None
        and _TRANSFORMS_ACTIVE is not None
        and _get_current_dispatch_mode is not None
        and not torch.compiler.is_compiling()
        and not torch.jit.is_tracing()
        and not _TRANSFORMS_ACTIVE()
        and _get_current_dispatch_mode() is None
    )


def function(name: str, op: Callable, setup_context: Callable, backward: Callable) -> type:
    """An ``autograd.Function`` that runs ``op`` below autograd, with ``register_autograd``'s ``setup_context`` and
    ``backward``. Outputs after the first (the align ops' boxes) are marked non-differentiable."""

    # Old-style forward(ctx, ...): with a separate setup_context, Function.apply binds the arguments to forward's
    # signature with inspect on every call (~35 µs here), which is most of what this path saves.
    def forward(ctx, *args):
        with _BELOW_AUTOGRAD():
            output = op(*args)
        setup_context(ctx, args, output)
        if isinstance(output, tuple):
            ctx.mark_non_differentiable(*output[1:])
            # Those outputs' gradients are never read: without this, autograd makes a zero tensor for each on every
            # backward (an allocation and a fill: a kernel launch on CUDA).
            ctx.set_materialize_grads(False)
        return output

    def backward_(ctx, *grads):
        if grads[0] is None:  # (not materialised) the differentiable output got no gradient: nothing flows back
            return (None,) * len(ctx.needs_input_grad)
        if torch.is_grad_enabled():
            # create_graph=True: the backward op keeps its own registered autograd (gait_synthesis differentiates
            # again; the align ops raise their "double backward is not supported" error)
            return backward(ctx, *grads)
        with _BELOW_AUTOGRAD():
            return backward(ctx, *grads)

    return type(name, (torch.autograd.Function,), {
        "op": staticmethod(op),
        "forward": staticmethod(forward),
        "backward": staticmethod(backward_),
    })


def call(fn: type, args: Sequence, n_tensors: int):
    """``fn.op(*args)`` (``fn`` from :func:`function`) with autograd: through ``fn`` in plain eager mode, else
    through the registered op. ``args[:n_tensors]`` are the op's tensor arguments."""
    if not _plain_eager():
        return fn.op(*args)
    tensors = args[:n_tensors]
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
        return fn.apply(*args)
    with _BELOW_AUTOGRAD():  # nothing to record: no autograd wrapper at all
        return fn.op(*args)
