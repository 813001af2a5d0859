"""Checks a CUDA build of gaitedge._C on a machine without a GPU (called by .ci/cuda_build.sh).

    python .ci/check_cuda_build.py SRC_DIR SO_PATH

SRC_DIR holds the gaitedge package the extension was built into. The check imports that package next to a CUDA build
of torch and asserts that the build says it has CUDA kernels and that every op of the ``gaitedge`` library has a CPU
and a CUDA kernel, an autograd kernel and a fake (Meta) kernel. It then runs each public op once on the CPU through
this build (the CPU kernels compiled alongside the CUDA ones). Exits non-zero with the list of what is missing.
"""

import sys
from pathlib import Path


def main(src: str, so: str) -> int:
    sys.path.insert(0, str(Path(src).resolve()))
    import torch

    import gaitedge
    import gaitedge.ops as ops
    from gaitedge import _extension

    problems = []
    here = Path(gaitedge.__file__).resolve().parent
    if here != Path(src).resolve() / "gaitedge":
        problems.append(f"imported gaitedge from {here}, not from {src}")
    if torch.version.cuda is None:
        problems.append(f"torch {torch.__version__} is not a CUDA build")
    if not _extension.has_cuda_kernels():
        problems.append(f"the build info says no CUDA kernels: {_extension.build_info()}")

    names = sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("gaitedge::"))
    if not names:
        problems.append("no gaitedge:: ops registered")
    for key in ("CPU", "CUDA", "Meta"):
        have = set(torch._C._dispatch_get_registrations_for_dispatch_key(key))
        missing = [n for n in names if n not in have]
        if missing:
            problems.append(f"no {key} kernel for {missing}")
    # Autograd is registered for the differentiable ops; edge_masks (bool outputs) and align_boxes have none.
    differentiable = ["gaitedge::gait_synthesis", "gaitedge::_gait_synthesis_backward", "gaitedge::gait_align",
                      "gaitedge::gait_edge_align"]
    have = set(torch._C._dispatch_get_registrations_for_dispatch_key("Autograd"))
    have |= set(torch._C._dispatch_get_registrations_for_dispatch_key("AutogradCPU"))
    missing = [n for n in differentiable if n in names and n not in have]
    if missing:
        problems.append(f"no autograd kernel for {missing}")

    # One CPU call of each public op through this build: [N, 1, H, W] frames with a bar of a person.
    sil = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    sil[..., 4:28, 12:20] = 1
    prob = torch.rand(2, 1, 32, 32, requires_grad=True)
    ratio = torch.full((2,), 0.4)
    edge, interior = ops.edge_masks(sil)
    if int(edge.sum()) == 0 or int(interior.sum()) == 0:
        problems.append("edge_masks returned an empty band or interior")
    crop = ops.gait_align(ops.gait_synthesis(prob, sil), sil, ratio)
    fused = ops.gait_edge_align(prob, sil, ratio)
    if not torch.allclose(crop, fused, rtol=1e-5, atol=1e-6):
        problems.append("gait_edge_align differs from gait_align(gait_synthesis(...)) on the CPU")
    (grad,) = torch.autograd.grad(fused.sum(), prob)
    if not (grad[~edge].eq(0).all() and grad[edge].ne(0).any()):
        problems.append("the edge-align gradient does not live on the edge band")

    print(f"check_cuda_build: {so}")
    print(f"  torch {torch.__version__} (CUDA {torch.version.cuda}), {len(names)} ops: "
          + ", ".join(n.split("::")[1] for n in names))
    for p in problems:
        print("  PROBLEM:", p)
    print("  OK: every op has CPU, CUDA and Meta kernels; CPU calls agree" if not problems else "  FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
