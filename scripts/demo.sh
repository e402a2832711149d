#!/usr/bin/env bash
# Set up, then refine the bundled demo (three COCO-Stuff images, STEGO labels) and score it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-out/demo}
.venv/bin/uosam refine resources/demo/images resources/demo/labels "$out" --num-classes 27
echo "baseline (STEGO):"
.venv/bin/uosam eval resources/demo/labels resources/demo/ground_truth --num-classes 27
echo "refined by uosam:"
.venv/bin/uosam eval "$out" resources/demo/ground_truth --num-classes 27
