#!/usr/bin/env bash
# Builds the CPU kernels with GAITEDGE_NO_SIMD=1 (no SSE2 blocks, no F16C/AVX2 dispatch: the code a CPU without SSE2,
# such as aarch64, runs) and runs tests/ops against that build. On x86-64 nothing else compiles that code.
# The build happens in a copy of the tracked files (build/nosimd-src), so the working tree's build is untouched.
# Usage: .ci/nosimd_test.sh PYTHON [pytest args...]   Environment: MAX_JOBS (2).
set -euo pipefail
PY=${1:?usage: .ci/nosimd_test.sh PYTHON [pytest args...]}
shift
# absolute, since the build runs in another folder; not through readlink: a venv's python is a link out of the venv
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac
cd "$(dirname "$0")/.."
src=build/nosimd-src
rm -rf "$src"
mkdir -p "$src"
git ls-files -z -- setup.py pyproject.toml README.md csrc gaitedge tests | tar --null -T - -c | tar -x -C "$src"
cd "$src"
GAITEDGE_NO_SIMD=1 GAITEDGE_FORCE_CPU=1 MAX_JOBS="${MAX_JOBS:-2}" "$PY" setup.py -q build_ext --inplace
PYTHONPATH=$PWD "$PY" -c "import gaitedge, os; assert gaitedge.__file__.startswith(os.getcwd()), gaitedge.__file__"
PYTHONPATH=$PWD "$PY" -m pytest tests/ops -q -p no:cacheprovider "$@"
