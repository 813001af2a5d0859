// Bit-packed edge / interior masks for the fused GaitAlign kernels, computed by the gait_synthesis kernel
// (gait_synthesis_kernel.cu). Layout: bits[0] = edge, bits[1] = interior, each [N, H, ceil(W / 32)] uint32 words,
// bit j of word w = column 32 w + j.
#pragma once

#include <ATen/core/Tensor.h>
#include <cuda_runtime.h>

namespace gaitedge {
namespace cuda {

// Returns an int32 tensor [2, N, H, ceil(W / 32)] (bit patterns) on sil's device.
at::Tensor edge_interior_bits(const at::Tensor& sil, int64_t kernel_size, double threshold, cudaStream_t stream);

__device__ __forceinline__ bool bit_at(const uint32_t* bits, int64_t row_word0, int col) {
  return (bits[row_word0 + (col >> 5)] >> (col & 31)) & 1u;
}

}  // namespace cuda
}  // namespace gaitedge
