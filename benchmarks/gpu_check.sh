#!/usr/bin/env bash
# The GPU check (see benchmarks/gpu_check.py): run it whenever a CUDA machine is at hand and copy the
# SUMMARY line's numbers into the README's "Measured on a GPU" section. At most 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 480 python3 benchmarks/gpu_check.py --device cuda "$@"
