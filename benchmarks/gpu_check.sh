#!/usr/bin/env bash
# Every CNN book preset on one CUDA device, examples/s with the lab's GPU path and without parts
# of it, next to the book's V100 figures: see benchmarks/gpu_check.py. Sized for one H100 in
# under 8 minutes. Usage: benchmarks/gpu_check.sh [--device cuda:0] [--epochs 2] [--cases …]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
export D2L_LAB_HOME=${D2L_LAB_HOME:-$(mktemp -d)}  # the check's runs stay out of your history
exec "$python" -m benchmarks.gpu_check "$@"
