// Every gaitedge op schema, written once. Kernels register their implementations in their own files
// (csrc/cpu/*_kernel.cpp, csrc/cuda/*_kernel.cu); autograd and fake (meta) kernels are registered from Python
// (gaitedge/ops/*.py) so that torch.library.opcheck and torch.compile work.
#include <torch/library.h>

#ifdef GAITEDGE_PYTHON_MODULE
#include <Python.h>

// `import gaitedge._C` only has to run the static initialisers below; the module itself is empty, so it needs
// neither pybind11 nor libtorch_python.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
#endif

TORCH_LIBRARY(gaitedge, m) {
  // Gait Synthesis (paper eq. 1-2). sil: [N,1,H,W] bool/uint8/float, binarised as sil > threshold;
  // flat kernel_size x kernel_size element with geodesic borders (pixels outside the image are ignored).
  m.def("edge_masks(Tensor sil, int kernel_size, float threshold) -> (Tensor edge, Tensor interior)");
  // Ms = edge * prob + interior * sil, one fused pass, result in prob's dtype.
  m.def("gait_synthesis(Tensor prob, Tensor sil, int kernel_size, float threshold) -> Tensor");
  // d Ms / d prob applied to grad: edge * grad. Linear and self-adjoint, so it is also its own backward.
  m.def("_gait_synthesis_backward(Tensor grad, Tensor sil, int kernel_size, float threshold) -> Tensor");
}
