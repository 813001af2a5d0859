#!/usr/bin/env bash
# Fetches, on this machine, the wheels the lent GPU machine lacks for the OpenGait baseline (kornia and its Rust core;
# torchvision is already in that image), built for its Python (3.12, x86-64), into .carry/ (ignored by git) for the
# device call's `carry`. gpu_session.sh installs them when WHEELS=.carry is set.
# Usage (from the repository root): bash benchmarks/gpu_wheels.sh [DEST]     Environment: PYVER (default 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.carry}
mkdir -p "$dest"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest" kornia==0.9.0 kornia_rs==0.2.0
ls -l "$dest"/*.whl
