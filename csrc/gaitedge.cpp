// Every gaitedge op schema, written once. Kernels register their implementations in their own files
// (csrc/cpu/*_kernel.cpp, csrc/cuda/*_kernel.cu); autograd and fake (meta) kernels are registered from Python
// (gaitedge/ops/*.py) so that torch.library.opcheck and torch.compile work.
#include <torch/library.h>

TORCH_LIBRARY(gaitedge, m) {
  // Gait Synthesis (paper eq. 1-2). sil: [N,1,H,W] bool/uint8/float, binarised as sil > threshold;
  // flat kernel_size x kernel_size element with geodesic borders (pixels outside the image are ignored).
  m.def("edge_masks(Tensor sil, int kernel_size, float threshold) -> (Tensor edge, Tensor interior)");
  // Ms = edge * prob + interior * sil, one fused pass, result in prob's dtype.
  m.def("gait_synthesis(Tensor prob, Tensor sil, int kernel_size, float threshold) -> Tensor");
  // d Ms / d prob applied to grad: edge * grad. Linear and self-adjoint, so it is also its own backward.
  m.def("_gait_synthesis_backward(Tensor grad, Tensor sil, int kernel_size, float threshold) -> Tensor");

  // GaitAlign (paper §4.2, Algorithm 1). mode: "opengait" (OpenGait's GaitAlign, number for number) or "exact"
  // (aspect-true, unclamped, pixel-centre sampling). mask: [N,1,h,w]; ratio: N values, width/height of the person.
  // Per-frame box (x1, y1, x2, y2) in input pixel coordinates, float32 [N, 4].
  m.def("align_boxes(Tensor mask, Tensor ratio, int out_h, int out_w, float eps, str mode) -> Tensor");
  // RoIAlign of x [N,C,h,w] over the boxes of mask -> ([N,C,out_h,out_w], boxes [N,4]).
  m.def("gait_align(Tensor x, Tensor mask, Tensor ratio, int out_h, int out_w, float eps, str mode)"
        " -> (Tensor, Tensor)");
  // grad_x = Ay^T . grad . Ax per frame and channel: a gather, deterministic, atomic-free.
  m.def("_gait_align_backward(Tensor grad, Tensor boxes, int in_h, int in_w, str mode) -> Tensor");
  // gait_align(gait_synthesis(prob, sil, kernel_size, 0.5), sil, ratio, ...) without writing Ms to memory.
  m.def("gait_edge_align(Tensor prob, Tensor sil, Tensor ratio, int kernel_size, int out_h, int out_w, float eps,"
        " str mode) -> (Tensor, Tensor)");
  m.def("_gait_edge_align_backward(Tensor grad, Tensor sil, Tensor boxes, int kernel_size, str mode) -> Tensor");
}
