#!/usr/bin/env bash
# Everything that needs a GPU, for a lent machine with little time, in phases:
#   build     the CUDA extension, in place (incremental: seconds when the machine is still warm from a previous call)
#   tests     the CUDA op tests
#   targets   `gaitedge bench --target --device cuda`
#   raw       the registered ops called directly next to autograd and a device copy (fp32, fp16)
#   sanitize  benchmarks.cuda_smoke (every op once vs the CPU kernels) under compute-sanitizer memcheck, racecheck
#   profile   Nsight Compute on each of our kernels at N = 1920 (fp32, fp16): speed of light, memory, occupancy
#   sweeps    the edge-align and synthesis grids at N = 1920
#   train     the GaitEdge phase-2 training step on every edge path (fused, composite, compiled, OpenGait)
# Usage (from the repository root):  OUT=/path bash benchmarks/gpu_session.sh [PHASE ...]   (default: all of them)
# A session has 15 minutes of device time, the machine's start included, and one call may run 10 minutes. In order
# of priority, as one call each (the second only if the device time allows):
#   bash benchmarks/gpu_wheels.sh                                      # here, before the first call: kornia wheels
#   WHEELS=.carry bash benchmarks/gpu_session.sh build tests targets raw      # carry: [".carry"], timeout_s 600
#   WHEELS=.carry bash benchmarks/gpu_session.sh build sanitize profile sweeps train
# DEADLINE (seconds, default 560) is what the whole call may take: each step's own limit is cut to what is left, and
# a step that cannot get 30 s is skipped and recorded, so the call returns before the device tool stops it.
# Each step logs to <step>.log in a work folder (WORK, default a fresh temporary one); a failed step is recorded and
# the next one still runs. After every step $OUT/gpu_session.tgz is rewritten with the whole work folder, so a call
# stopped at its limit still returns what it measured. $OUT holds that archive alone: the device tool brings back at
# most 8 files from it.
# Environment: PY (python3), ARCH (TORCH_CUDA_ARCH_LIST, 9.0), JOBS (MAX_JOBS, 16), WHEELS (a folder of wheels to
# install first, e.g. .carry from gpu_wheels.sh, for the OpenGait baseline), DEADLINE.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-out/gpu}
PHASES=${*:-build tests targets raw sanitize profile sweeps train}
DEADLINE=${DEADLINE:-560}
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK/res"
status=0
pack() {  # written beside the archive first, so a call stopped mid-write still returns the previous one
  tar -czf "$OUT/.gpu_session.tgz.tmp" -C "$WORK" . && mv "$OUT/.gpu_session.tgz.tmp" "$OUT/gpu_session.tgz"
}
step() {  # step NAME SECONDS CMD...: run with a time limit, log to $WORK/NAME.log, remember a failure, pack
  local name=$1 limit=$2 t0=$SECONDS left=$((DEADLINE - SECONDS - 15))  # 15 s kept for the last pack
  shift 2
  if ((left < 30)); then
    echo "== $name: skipped, ${left}s of the ${DEADLINE}s deadline left" | tee "$WORK/$name.log"
    status=1
    return
  fi
  ((limit > left)) && limit=$left
  echo "== $name (limit ${limit}s): $*"
  if ! timeout "$limit" "$@" >"$WORK/$name.log" 2>&1; then
    echo "   FAILED or timed out after ${limit}s (see $name.log)"
    status=1
  fi
  echo "   $((SECONDS - t0)) s"
  tail -n 3 "$WORK/$name.log"
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
  # every failure, not the first only: kernels that have never run may fail in several ways at once
  step cuda_tests 240 "$PY" -m pytest tests/ops -q -m cuda -p no:cacheprovider --maxfail=30
fi
if has targets; then
  step targets 240 "$PY" -m gaitedge.cli bench --target --device cuda --out "$WORK/res"
fi
if has raw; then
  step raw_ops_fp32 90 "$PY" -m benchmarks.bench_raw_ops --device cuda --N 1920 --size 128 --dtype float32 \
    --out "$WORK/res"
  step raw_ops_fp16 90 "$PY" -m benchmarks.bench_raw_ops --device cuda --N 1920 --size 128 --dtype float16 \
    --out "$WORK/res/fp16"
fi
if has sanitize; then
  for tool in memcheck racecheck; do
    # only our kernels are instrumented (their names hold the gaitedge namespace): torch's own are not ours to check
    step "sanitize_$tool" 150 "$SANITIZER" --tool "$tool" --kernel-name kns=gaitedge --error-exitcode 3 \
      "$PY" -m benchmarks.cuda_smoke
  done
fi
if has profile; then
  for dt in float32 float16; do  # --clock-control none: the card's clocks are not ours to change
    step "ncu_$dt" 150 "$NCU" --clock-control none --kernel-name-base demangled -k regex:gaitedge \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      "$PY" -m benchmarks.bench_raw_ops --device cuda --N 1920 --size 128 --dtype "$dt" --once
  done
fi
if has sweeps; then
  step edge_align 150 "$PY" -m benchmarks.bench_gait_edge_align --device cuda --N 1920 --size 128 --k 3 \
    --masks uint8 --dtypes float16,float32 --impls fused,composite,compiled,opengait --budget 1.5 --out "$WORK/res" \
    --stem gpu_gait_edge_align
  step synthesis 120 "$PY" -m benchmarks.bench_gait_synthesis --device cuda --N 1920 --size 128 --k 3 --masks uint8 \
    --dtypes float16,float32 --budget 1.5 --out "$WORK/res" --stem gpu_gait_synthesis
fi
if has train; then
  # at the paper's shape a fused step took ~0.5 s on the H100; the compiled backend compiles first
  step train_step 300 "$PY" -m benchmarks.bench_train_step --device cuda --budget 3 --out "$WORK/res" \
    --stem gpu_train_step
fi
pack
echo "== done (status $status): $OUT/gpu_session.tgz"
exit $status
