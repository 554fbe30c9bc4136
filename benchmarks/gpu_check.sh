#!/usr/bin/env bash
# The GPU check of issue 13 (at most 8 minutes): full-size psnr and gan steps in every precision the
# card offers, peak memory, the precision `auto` picks, the data-wait share with 2 loader workers,
# the GradScaler scale, and a 2-process torchrun run when there are 2 or more GPUs.
# The perceptual loss uses a random VGG19 (timing only). The last line printed is a JSON summary.
#
#   bash benchmarks/gpu_check.sh            # extra arguments go to benchmarks/gpu_check.py
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check.sh: no CUDA device')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout --signal=INT 470 python benchmarks/gpu_check.py "$@"
