#!/usr/bin/env bash
# Builds the whole extension, CPU and CUDA kernels, and links it against a CUDA build of torch, on a machine without a
# GPU; then checks the result (.ci/check_cuda_build.py). This catches what `nvcc -c` alone cannot: undefined or
# duplicate symbols, link errors, a kernel file that does not register its ops for CUDA, a Python layer that does not
# import next to a CUDA torch. Nothing is launched: running the kernels still needs a GPU (`pytest -m cuda`).
# The build happens in a copy of the tracked files (build/cuda-src), so the working tree's CPU build is untouched.
# Usage: .ci/cuda_build.sh PYTHON   (PYTHON: a venv's python with a CUDA build of torch; exits 0 with a note when
#        nvcc is absent). Environment: TORCH_CUDA_ARCH_LIST (default 9.0), MAX_JOBS (2), CUDA_HOME (from nvcc).
set -euo pipefail
PY=${1:?usage: .ci/cuda_build.sh PYTHON}
# absolute, since the build runs in another folder; not through readlink: a venv's python is a link out of the venv
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac
NVCC=${NVCC:-$(command -v nvcc || true)}
if [ -z "$NVCC" ]; then echo "cuda_build: nvcc not found, skipping the CUDA build check"; exit 0; fi
cd "$(dirname "$0")/.."
root=$PWD
# /usr/local/bin/nvcc may be a wrapper script: ask nvcc itself where its toolkit is (torch would guess /usr/local).
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME=$("$NVCC" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
  CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$NVCC")")")}
  CUDA_HOME=$(cd "$CUDA_HOME" && pwd -P)
fi
export CUDA_HOME
echo "cuda_build: torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)'), CUDA_HOME=$CUDA_HOME"
src=build/cuda-src
rm -rf "$src"
mkdir -p "$src"
git ls-files -z -- setup.py pyproject.toml csrc gaitedge | tar --null -T - -c | tar -x -C "$src"
cd "$src"
FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS="${MAX_JOBS:-2}" \
  "$PY" setup.py -q build_ext --inplace
cd "$root"
so=$(ls "$src"/gaitedge/_C*.so)
"$PY" .ci/check_cuda_build.py "$src" "$so"
