#!/usr/bin/env bash
# Everything that needs a GPU, for a lent machine with little time, in phases:
#   build    the CUDA extension, in place (incremental: seconds when the machine is still warm from a previous call)
#   tests    the CUDA op tests and the host emulation of the CUDA programs
#   targets  `gaitedge bench --target --device cuda`
#   raw      the registered ops called directly next to autograd and a device copy (fp32, fp16)
#   sweeps   the edge-align and synthesis grids at N = 1920
#   train    the GaitEdge phase-2 training step on every edge path (fused, composite, compiled, OpenGait)
# Usage (from the repository root):  OUT=/path bash benchmarks/gpu_session.sh [PHASE ...]   (default: all of them)
# A device call is limited to 10 minutes, so run it as two calls, the second within the machine's warm window:
#   bash benchmarks/gpu_session.sh build tests targets
#   bash benchmarks/gpu_session.sh build raw sweeps train
# Each step logs to $OUT/<step>.log and has its own time limit; a failed step is recorded and the next one still runs.
# After every step $OUT/gpu_session.tgz is rewritten with everything so far, so a call stopped at its limit still
# returns what it measured.
# Environment: PY (python3), ARCH (TORCH_CUDA_ARCH_LIST, 9.0), JOBS (MAX_JOBS, 16), WHEELS (a folder of wheels to
# install first, e.g. .carry with kornia for the OpenGait baseline).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-out/gpu}
PHASES=${*:-build tests targets raw sweeps train}
mkdir -p "$OUT/res"
status=0
pack() {  # written outside $OUT first: tar must not read the archive it is writing
  local tmp
  tmp=$(mktemp)
  tar -czf "$tmp" -C "$OUT" --exclude ./gpu_session.tgz . && mv "$tmp" "$OUT/gpu_session.tgz"
}
step() {  # step NAME SECONDS CMD...: run with a time limit, log to $OUT/NAME.log, remember a failure, pack
  local name=$1 limit=$2 t0=$SECONDS
  shift 2
  echo "== $name: $*"
  if ! timeout "$limit" "$@" >"$OUT/$name.log" 2>&1; then
    echo "   FAILED or timed out after ${limit}s (see $name.log)"
    status=1
  fi
  echo "   $((SECONDS - t0)) s"
  tail -n 3 "$OUT/$name.log"
  pack
}
has() { [[ " $PHASES " == *" $1 "* ]]; }
if [ -n "${WHEELS:-}" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  step wheels 120 "$PY" -m pip install -q --no-deps --no-index "$WHEELS"/*.whl
fi
step nvidia-smi 30 nvidia-smi
if has build; then
  step build 420 env FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="${ARCH:-9.0}" MAX_JOBS="${JOBS:-16}" \
    "$PY" setup.py build_ext --inplace
fi
if has tests; then
  step cuda_tests 240 "$PY" -m pytest tests/ops -q -m cuda -x
  step host_programs 120 "$PY" -m pytest tests/ops/test_cuda_programs_on_host.py -q
fi
if has targets; then
  step targets 240 "$PY" -m gaitedge.cli bench --target --device cuda --out "$OUT/res"
fi
if has raw; then
  step raw_ops_fp32 90 "$PY" benchmarks/bench_raw_ops.py --device cuda --N 1920 --size 128 --dtype float32 \
    --out "$OUT/res"
  step raw_ops_fp16 90 "$PY" benchmarks/bench_raw_ops.py --device cuda --N 1920 --size 128 --dtype float16 \
    --out "$OUT/res/fp16"
fi
if has sweeps; then
  step edge_align 150 "$PY" benchmarks/bench_gait_edge_align.py --device cuda --N 1920 --size 128 --k 3 \
    --masks uint8 --dtypes float16,float32 --impls fused,composite,compiled,opengait --budget 1.5 --out "$OUT/res" \
    --stem gpu_gait_edge_align
  step synthesis 120 "$PY" benchmarks/bench_gait_synthesis.py --device cuda --N 1920 --size 128 --k 3 --masks uint8 \
    --dtypes float16,float32 --budget 1.5 --out "$OUT/res" --stem gpu_gait_synthesis
fi
if has train; then
  # at the paper's shape a fused step took ~0.5 s on the H100; the compiled backend compiles first
  step train_step 300 "$PY" benchmarks/bench_train_step.py --device cuda --budget 3 --out "$OUT/res" \
    --stem gpu_train_step
fi
echo "== done (status $status): $OUT/gpu_session.tgz"
exit $status
