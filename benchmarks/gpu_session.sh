#!/usr/bin/env bash
# One pass over everything that needs a GPU, for a lent machine with little time: build the CUDA extension in place,
# run the CUDA op tests, the target points, the raw-op timings, the edge-align/synthesis grids and the training
# step, and leave logs, JSON and Markdown under $OUT (default out/gpu) as one tarball plus the small files. Each
# step's failure is recorded and the next step still runs, so one broken step does not cost the whole lease.
#   OUT=/path bash benchmarks/gpu_session.sh            (run from the repository root)
# Environment: PY (python3), ARCH (TORCH_CUDA_ARCH_LIST, 9.0), JOBS (MAX_JOBS, 16), WHEELS (a folder of wheels to
# install first, e.g. .carry with kornia for the OpenGait baseline).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT/res"
status=0
step() {  # step NAME CMD...: run, log to $OUT/NAME.log, remember a failure
  local name=$1
  shift
  echo "== $name: $*"
  if ! "$@" >"$OUT/$name.log" 2>&1; then
    echo "   FAILED (see $name.log)"
    status=1
  fi
  tail -n 3 "$OUT/$name.log"
}
if [ -n "${WHEELS:-}" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  step wheels "$PY" -m pip install -q --no-deps --no-index "$WHEELS"/*.whl
fi
step nvidia-smi nvidia-smi
step build env FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="${ARCH:-9.0}" MAX_JOBS="${JOBS:-16}" "$PY" setup.py build_ext --inplace
step cuda_tests "$PY" -m pytest tests/ops -q -m cuda -x
step host_programs "$PY" -m pytest tests/ops/test_cuda_programs_on_host.py -q
step targets "$PY" -m gaitedge.cli bench --target --device cuda --out "$OUT/res"
step raw_ops_fp32 "$PY" benchmarks/bench_raw_ops.py --device cuda --N 1920 --size 128 --dtype float32 --out "$OUT/res"
step raw_ops_fp16 "$PY" benchmarks/bench_raw_ops.py --device cuda --N 1920 --size 128 --dtype float16 \
  --out "$OUT/res/fp16"
step edge_align "$PY" benchmarks/bench_gait_edge_align.py --device cuda --N 1920 --size 128 --k 3 --masks uint8 \
  --dtypes float16,float32 --impls fused,composite,compiled,opengait --budget 1.5 --out "$OUT/res" \
  --stem gpu_gait_edge_align
step synthesis "$PY" benchmarks/bench_gait_synthesis.py --device cuda --N 1920 --size 128 --k 3 --masks uint8 \
  --dtypes float16,float32 --budget 1.5 --out "$OUT/res" --stem gpu_gait_synthesis
# last, and bounded: at the paper's shape a step takes ~0.5 s fused; the compiled backend compiles first
step train_step timeout 300 "$PY" benchmarks/bench_train_step.py --device cuda --budget 3 --out "$OUT/res" \
  --stem gpu_train_step
tmp=$(mktemp)  # written outside $OUT: tar must not read the archive it is writing
tar -czf "$tmp" -C "$OUT" --exclude ./gpu_session.tgz . && mv "$tmp" "$OUT/gpu_session.tgz"
echo "== done (status $status): $OUT/gpu_session.tgz"
exit $status
