#!/usr/bin/env bash
# Compiles every csrc/**/*.cu with nvcc -c against the installed torch's headers, without linking.
# Runs on machines with nvcc but no CUDA build of torch (CI, laptops): the CPU wheel lacks one generated header,
# c10/cuda/impl/cuda_cmake_macros.h, which a one-line shim supplies.
# Usage: .ci/compile_cuda.sh [python]   (exits 0 with a note when nvcc is absent)
set -euo pipefail
PY=${1:-python}
NVCC=${NVCC:-$(command -v nvcc || true)}
if [ -z "$NVCC" ]; then echo "compile_cuda: nvcc not found, skipping the CUDA compile check"; exit 0; fi
cd "$(dirname "$0")/.."
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
mkdir -p "$shim/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$shim/c10/cuda/impl/cuda_cmake_macros.h"
mapfile -t incs < <("$PY" -c "from torch.utils.cpp_extension import include_paths; print('\n'.join(include_paths()))")
args=()
for i in "${incs[@]}"; do args+=(-I "$i"); done
arch=${CUDA_COMPILE_ARCH:-sm_90}
status=0
for cu in $(find csrc -name '*.cu' | sort); do
  echo "nvcc -c $cu ($arch)"
  if ! "$NVCC" -c "$cu" -o "$shim/$(basename "$cu").o" -std=c++20 -O3 -arch="$arch" -DWITH_CUDA \
      -D_GLIBCXX_USE_CXX11_ABI=1 -I "$shim" "${args[@]}" -Xcompiler -fPIC --expt-relaxed-constexpr; then
    status=1
  fi
done
exit $status
