# Every target does its own set-up on a fresh machine: a venv with pinned torch, then the extension build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
MAX_JOBS ?= 2
OUT ?= out/demo
# A second venv with a CUDA build of torch, only to build and link the CUDA kernels where no GPU is (cuda-build).
CUDA_VENV ?= .venv-cuda
CUDA_TORCH_VERSION ?= 2.14.1

.PHONY: venv build test demo reproduce transfer-map bench cmake nosimd-test cuda-compile cuda-build clean

$(VENV)/.deps-stamp:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==$(TORCH_VERSION) numpy ninja setuptools wheel pytest hypothesis pyyaml tqdm matplotlib opencv-python-headless threadpoolctl
	touch $@

venv: $(VENV)/.deps-stamp

build: venv
	MAX_JOBS=$(MAX_JOBS) $(PY) -m pip install --no-build-isolation --no-deps -e .

test: build
	$(PY) -m pytest tests -q

demo: build
	$(PY) -m gaitedge demo --out $(OUT)

# the paper-shaped study over three seeds (about 70 min on 2 CPU cores); rerun to continue a killed run
reproduce: build
	$(PY) -m gaitedge reproduce --out out/reproduce --resume

# where GaitEdge's cross-domain advantage appears: the demo at six levels of phase-1 appearance diversity (about
# 70 min on 2 CPU cores); rerun to continue a killed run
transfer-map: build
	$(PY) -m gaitedge transfer-map --out out/transfer-map --resume

bench: build
	$(PY) -m gaitedge bench --out benchmarks/results

cmake: venv
	cmake -S . -B build/cmake -G Ninja -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
		-DPython3_EXECUTABLE=$(PY)
	cmake --build build/cmake -j $(MAX_JOBS)
	$(PY) -c "import torch; torch.ops.load_library('build/cmake/libgaitedge_ops.so'); print('cmake build loads:', torch.ops.gaitedge.gait_synthesis)"

# The CPU kernels without their SIMD fast paths (the code non-x86 CPUs run), built in a copy and run against tests/ops.
nosimd-test: venv
	MAX_JOBS=$(MAX_JOBS) .ci/nosimd_test.sh $(PY)

cuda-compile: venv
	.ci/compile_cuda.sh $(PY)

$(CUDA_VENV)/.deps-stamp:
	$(PYTHON) -m venv $(CUDA_VENV)
	$(CUDA_VENV)/bin/python -m pip install torch==$(CUDA_TORCH_VERSION) numpy ninja setuptools wheel
	touch $@

# Builds and links CPU + CUDA kernels against a CUDA torch and checks every op registers a CUDA kernel (no GPU needed).
cuda-build:
	@if command -v nvcc >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(CUDA_VENV)/.deps-stamp && MAX_JOBS=$(MAX_JOBS) .ci/cuda_build.sh $(CUDA_VENV)/bin/python; \
	else echo "cuda-build: nvcc not found, skipping"; fi

clean:
	rm -rf build *.egg-info gaitedge/_C*.so gaitedge/_build_info.py
