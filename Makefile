# Every target does its own set-up on a fresh machine: a venv with pinned torch, then the extension build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
MAX_JOBS ?= 2
OUT ?= out/demo

.PHONY: venv build test demo bench cmake cuda-compile clean

$(VENV)/.deps-stamp:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==$(TORCH_VERSION) numpy ninja setuptools wheel pytest pyyaml tqdm matplotlib
	touch $@

venv: $(VENV)/.deps-stamp

build: venv
	MAX_JOBS=$(MAX_JOBS) $(PY) -m pip install --no-build-isolation --no-deps -e .

test: build
	$(PY) -m pytest tests -q

demo: build
	$(PY) -m gaitedge demo --out $(OUT)

bench: build
	$(PY) -m gaitedge bench --out benchmarks/results

cmake: venv
	cmake -S . -B build/cmake -G Ninja -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
		-DPython3_EXECUTABLE=$(PY)
	cmake --build build/cmake -j $(MAX_JOBS)
	$(PY) -c "import torch; torch.ops.load_library('build/cmake/libgaitedge_ops.so'); print('cmake build loads:', torch.ops.gaitedge.gait_synthesis)"

cuda-compile: venv
	.ci/compile_cuda.sh $(PY)

clean:
	rm -rf build *.egg-info gaitedge/_C*.so gaitedge/_build_info.py
