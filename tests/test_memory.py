"""Memory grows with the image, not with the number of masks (issue 7.3; docs/decisions/0008).

A large synthetic image (the demo upscaled, labels nearest) is refined with the default pipeline in
a child process (``bench/memory.py --child``); the child reports its peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEGAPIXELS = 4
# refine's own peak above the loaded model and image: 0.7 GB compact, 1.6 GB with the dense masks and LCMs
GROWTH_LIMIT_MB = 1200


def test_a_large_image_refines_within_a_memory_bound():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "memory.py"), "--child", str(MEGAPIXELS)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["height"] * row["width"] >= 0.99 * MEGAPIXELS * 1e6
    assert row["gro_masks"] > 10 and row["objects"] > 1, "the bound is only meaningful with many masks"
    assert row["peak_mb"] - row["idle_mb"] < GROWTH_LIMIT_MB, row
