// Whether the CPU kernels compile their SSE2 fast paths (GAITEDGE_SSE2 1) or only the portable scalar code (0).
//
// Every SSE2 block is a fast path in front of scalar code that gives the same bits; that scalar code is all that
// non-x86 CPUs (aarch64) run. GAITEDGE_NO_SIMD (setup.py: GAITEDGE_NO_SIMD=1, CMake: -DGAITEDGE_NO_SIMD=ON) turns
// the fast paths off on x86-64 too, run-time F16C/AVX2 dispatch included, so that an x86-64 CI builds and tests
// the code those CPUs run (`make nosimd-test`).
#pragma once

#if defined(__SSE2__) && !defined(GAITEDGE_NO_SIMD)
#define GAITEDGE_SSE2 1
#include <emmintrin.h>
#else
#define GAITEDGE_SSE2 0
#endif
