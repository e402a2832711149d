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
# sam2 ships only an sdist whose build wants torch: build it against the installed torch, no CUDA kernels
if ! .venv/bin/python -c "import sam2" 2>/dev/null; then
  "${pip[@]}" install "setuptools>=70.1" wheel 2>&1 | grep -v "^WARNING: Location" || true
  SAM2_BUILD_CUDA=0 "${pip[@]}" install --no-build-isolation sam2==1.1.0 2>&1 | grep -v "^WARNING: Location" || true
fi
# extras the test suite exercises: every model family (sam2, hq) and the Ray executor
"${pip[@]}" install -e ".[dev,hq,sam2,ray]" 2>&1 | grep -v "^WARNING: Location" || true
# bench-only: pydensecrf2 (dense CRF row of bench/quality.py) ships only an sdist; pip builds it with g++
if ! .venv/bin/python -c "import pydensecrf.densecrf" 2>/dev/null; then
  "${pip[@]}" install -e ".[bench]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import pydensecrf.densecrf" 2>/dev/null \
    || echo "setup: pydensecrf2 did not build (needs g++); bench/quality.py will print no dense CRF row" >&2
fi
.venv/bin/python -c "import uosam_core, mobile_sam, segment_anything, segment_anything_hq, sam2, ray" \
  || { echo "setup: uosam or one of its extras did not install" >&2; exit 1; }
.venv/bin/uosam weights fetch >/dev/null
