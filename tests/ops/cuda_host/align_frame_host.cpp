// Runs the CUDA GaitAlign kernels' per-plane programs (csrc/cuda/align_frame.cuh) on the host: the same phase
// functions, in the same order, each one for every thread index of a block before the next one starts (which is
// what the kernels' barriers guarantee), with a host buffer standing in for shared memory. Launch parameters
// (band bounds, row-buffer size, vector width) come from the same header functions the CUDA entry points call.
// Built by tests/ops/test_cuda_programs_on_host.py with torch.utils.cpp_extension; no GPU or nvcc needed.
#include <torch/extension.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "../../../csrc/checks.h"
#include "../../../csrc/cuda/align_frame.cuh"
#include "../../../csrc/dispatch.h"

namespace gaitedge {
namespace {

// A block's shared memory, 16-byte aligned, filled with a NaN-like garbage pattern: a phase that reads what no
// earlier phase wrote shows up in the result.
struct SharedMemory {
  unsigned char* ptr;
  explicit SharedMemory(size_t bytes) : ptr(static_cast<unsigned char*>(::operator new(bytes + 16, std::align_val_t(16)))) {
    std::memset(ptr, 0xff, bytes + 16);
  }
  ~SharedMemory() { ::operator delete(ptr, std::align_val_t(16)); }
};

template <typename x_t, typename sil_t, bool kFused>
void run_forward(const frame::Args& a, const frame::ForwardArgs<x_t, sil_t>& f, int64_t planes, int nt) {
  const frame::Layout l = frame::make_layout<at::opmath_type<x_t>>(a, false);
  for (int64_t plane = 0; plane < planes; ++plane) {
    SharedMemory smem(l.total);
    const frame::ForwardFrame<x_t, sil_t, kFused> fr(a, f, smem.ptr, l, plane);
    for (int tid = 0; tid < nt; ++tid) fr.tables(tid, nt);
    for (int ph = 0; ph < a.p.out_h;) {
      const frame::Chunk c = fr.chunk(ph);
      for (int tid = 0; tid < nt; ++tid) {
        TORCH_CHECK(fr.chunk(ph).ph_b == c.ph_b, "threads disagree on the chunk");
        fr.rows(tid, nt, c);
      }
      for (int tid = 0; tid < nt; ++tid) fr.outputs(tid, nt, c);
      ph = c.ph_b;
    }
  }
}

template <typename x_t, bool kFused, int V>
void run_backward(const frame::Args& a, const frame::BackwardArgs<x_t>& f, int64_t planes, int nt) {
  const frame::Layout l = frame::make_layout<at::opmath_type<x_t>>(a, true);
  for (int64_t plane = 0; plane < planes; ++plane) {
    SharedMemory smem(l.total);
    const frame::BackwardFrame<x_t, kFused, V> fr(a, f, smem.ptr, l, plane);
    bool dense = false;
    for (int tid = 0; tid < nt; ++tid) dense |= !fr.load(tid, nt);  // __syncthreads_or
    for (int tid = 0; tid < nt; ++tid) fr.spans(tid, nt);
    for (int tid = 0; tid < nt; ++tid) fr.pixels(tid, nt, dense);
  }
}

// x [N, C, h, w]; fused: sil [N, 1, h, w] and bits [2, N, h, nw] (int32 bit patterns), else empty tensors.
// t_rows > 0 overrides the row buffer's size (to force chunking).
at::Tensor forward(const at::Tensor& x, const at::Tensor& sil, const at::Tensor& bits, const at::Tensor& boxes,
                   const at::Tensor& ratio, int64_t out_h, int64_t out_w, const std::string& mode, int64_t threads,
                   int64_t t_rows) {
  const bool fused = sil.defined() && sil.numel() > 0;
  const int64_t N = x.size(0), C = x.size(1);
  const AlignParams p = make_align_params(x.size(2), x.size(3), out_h, out_w, 1.0, parse_align_mode(mode));
  auto out = at::empty({N, C, out_h, out_w}, x.options());
  GAITEDGE_DISPATCH_FLOAT_TYPES(x.scalar_type(), "forward", [&] {
    using x_t = scalar_t;
    const double rmin = p.mode == AlignMode::kExact ? ratio.min().item<double>() : 1.0;
    frame::Args a = frame::forward_args(p, C, rmin, sizeof(at::opmath_type<x_t>), 32 * 1024);
    if (t_rows > 0) a.t_rows = std::max<int>(a.By, static_cast<int>(t_rows));
    if (fused) {
      GAITEDGE_DISPATCH_MASK_TYPES(sil.scalar_type(), "forward_sil", [&] {
        const frame::ForwardArgs<x_t, scalar_t> f{x.data_ptr<x_t>(), sil.data_ptr<scalar_t>(),
                                                  reinterpret_cast<const uint32_t*>(bits.data_ptr<int32_t>()), N,
                                                  static_cast<int>(bits.size(3)), boxes.data_ptr<float>(),
                                                  out.data_ptr<x_t>()};
        run_forward<x_t, scalar_t, true>(a, f, N, static_cast<int>(threads));
      });
    } else {
      const frame::ForwardArgs<x_t, float> f{x.data_ptr<x_t>(), nullptr, nullptr, N, 0, boxes.data_ptr<float>(),
                                             out.data_ptr<x_t>()};
      run_forward<x_t, float, false>(a, f, N * C, static_cast<int>(threads));
    }
  });
  return out;
}

template <typename x_t, bool kFused>
void backward_typed(const frame::Args& a, const frame::BackwardArgs<x_t>& f, int64_t planes, int nt, int width) {
  constexpr int VX = 16 / sizeof(x_t);
  if (width == VX) {
    run_backward<x_t, kFused, VX>(a, f, planes, nt);
  } else {
    run_backward<x_t, kFused, 1>(a, f, planes, nt);
  }
}

// grad [N, C, out_h, out_w]; fused: edge bits [N, h, nw] (int32 bit patterns), else an empty tensor.
at::Tensor backward(const at::Tensor& grad, const at::Tensor& edge, const at::Tensor& boxes, int64_t in_h,
                    int64_t in_w, const std::string& mode, int64_t threads) {
  const bool fused = edge.defined() && edge.numel() > 0;
  const int64_t N = grad.size(0), C = grad.size(1);
  const AlignParams p = make_align_params(in_h, in_w, grad.size(2), grad.size(3), 1.0, parse_align_mode(mode));
  auto gin = at::empty({N, C, in_h, in_w}, grad.options());
  const float widest = p.mode == AlignMode::kExact ? (boxes.select(1, 2) - boxes.select(1, 0)).max().item<float>() : 1.0f;
  const frame::Args a = frame::backward_args(p, C, widest);
  GAITEDGE_DISPATCH_FLOAT_TYPES(grad.scalar_type(), "backward", [&] {
    const frame::BackwardArgs<scalar_t> f{grad.data_ptr<scalar_t>(),
                                          fused ? reinterpret_cast<const uint32_t*>(edge.data_ptr<int32_t>()) : nullptr,
                                          fused ? static_cast<int>(edge.size(2)) : 0, boxes.data_ptr<float>(),
                                          gin.data_ptr<scalar_t>()};
    const int width = frame::backward_width(p.in_w, sizeof(scalar_t),
                                            reinterpret_cast<uintptr_t>(gin.data_ptr()) % 16 == 0);
    if (fused) {
      backward_typed<scalar_t, true>(a, f, N * C, static_cast<int>(threads), width);
    } else {
      backward_typed<scalar_t, false>(a, f, N * C, static_cast<int>(threads), width);
    }
  });
  return gin;
}

// Band starts of one axis for a box [lo, hi), as the tables phase writes them to sy / sx.
std::vector<int64_t> band_starts(double lo, double hi, int64_t n_in, int64_t n_out, int64_t pad,
                                 const std::string& mode) {
  const AlignMode m = parse_align_mode(mode);
  const AxisGrid g = axis_grid(static_cast<float>(lo), static_cast<float>(hi), static_cast<int>(n_in),
                               static_cast<int>(n_out), static_cast<int>(pad), m);
  std::vector<float> w(g.band);
  std::vector<int64_t> starts(n_out);
  for (int o = 0; o < n_out; ++o) {
    starts[o] = axis_band(g, o, static_cast<int>(n_in), static_cast<int>(pad), m, w.data());
  }
  return starts;
}

}  // namespace
}  // namespace gaitedge

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &gaitedge::forward);
  m.def("backward", &gaitedge::backward);
  m.def("band_starts", &gaitedge::band_starts);
}
