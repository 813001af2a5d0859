// Dtype dispatch shared by the CPU and CUDA kernels.
#pragma once

#include <ATen/Dispatch.h>

// Silhouettes / masks: bool, uint8 and every floating type. Binds `scalar_t`.
#define GAITEDGE_DISPATCH_MASK_TYPES(TYPE, NAME, ...)                       \
  AT_DISPATCH_SWITCH(TYPE, NAME, AT_DISPATCH_CASE(at::kBool, __VA_ARGS__)   \
                                     AT_DISPATCH_CASE(at::kByte, __VA_ARGS__) \
                                         AT_DISPATCH_CASE_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, __VA_ARGS__))

// Probability maps, features and gradients: float32/64, float16, bfloat16. Binds `scalar_t`.
#define GAITEDGE_DISPATCH_FLOAT_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
