#!/usr/bin/env bash
# Set up (idempotent): a virtual environment in .venv with torch, uosam and its tools, and the
# default MobileSAM checkpoint fetched and hash-checked into the user cache.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  if [ "$(uname -m)" = "aarch64" ]; then
    "${pip[@]}" install torch==2.9.1 torchvision==0.24.1
  else
    "${pip[@]}" install torch==2.14.1 torchvision==0.29.1
  fi
fi
"${pip[@]}" install -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import uosam_core, mobile_sam" || { echo "setup: uosam did not install" >&2; exit 1; }
.venv/bin/uosam weights fetch >/dev/null
