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

}  // namespace cuda
}  // namespace gaitedge
