#!/usr/bin/env bash
# Set up, then open the desktop app on the bundled demo (three COCO-Stuff images, STEGO labels).
#   bash scripts/demo.sh          the app (headless machines: a screenshot of it, see below)
#   bash scripts/demo.sh --cli    the command-line batch instead: refine the demo and score it
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--cli" ]; then
  out=${2:-out/demo}
  .venv/bin/uosam refine resources/demo/images resources/demo/labels "$out" --num-classes 27
  echo "baseline (STEGO):"
  .venv/bin/uosam eval resources/demo/labels resources/demo/ground_truth --num-classes 27
  echo "refined by uosam:"
  .venv/bin/uosam eval "$out" resources/demo/ground_truth --num-classes 27
  exit 0
fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}${QT_QPA_PLATFORM:-}" ] && [ "$(uname)" = "Linux" ]; then
  echo "demo: no display here; running the app offscreen and saving a screenshot of its window" >&2
  QT_QPA_PLATFORM=offscreen exec .venv/bin/uosam-gui --demo --screenshot out/demo-window.png "$@"
fi
exec .venv/bin/uosam-gui --demo "$@"
