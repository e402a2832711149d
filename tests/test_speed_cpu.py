"""CPU speed measures that must not change results: the allocator setting and the matrix upscaling."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import load_demo

from uosam_core.engine import Prompts, upscale_logits
from uosam_core.models.base import axis_resampling

FAULTS_SCRIPT = textwrap.dedent("""
    import os, resource, threading, torch
    from uosam_core import allocator
    applied = allocator.keep_freed_memory()

    def step():  # a decoder-like round of 64 MB temporaries
        x = torch.randn(64, 4096, 64)
        y = torch.nn.functional.gelu(x @ torch.randn(64, 64))
        return float(torch.nn.functional.layer_norm(y + x, (64,)).sum())

    def ten_rounds():
        step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            step()
        print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

    if os.environ.get("IN_THREAD") == "1":  # as the app's workers run models: in a thread started later
        worker = threading.Thread(target=ten_rounds)
        worker.start()
        worker.join()
    else:
        ten_rounds()
""")


def page_faults_of_ten_rounds(**env: str) -> tuple[bool, int]:
    done = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}, cwd=os.path.dirname(os.path.dirname(__file__)))
    applied, faults = done.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_tensor_memory_is_reused_without_page_faults_and_can_be_switched_off():
    kept_applied, kept = page_faults_of_ten_rounds(UOSAM_SYSTEM_MALLOC="0")
    system_applied, system = page_faults_of_ten_rounds(UOSAM_SYSTEM_MALLOC="1")
    assert kept_applied and not system_applied
    assert system > 10 * 3 * 16_384  # each round maps three fresh 64 MB tensors (16384 pages each)
    assert kept * 4 < system  # measured: ~10x fewer faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_worker_thread_reuses_freed_memory_too():
    """A thread gets its own glibc arena, which unmapped every large free (1.7x slower decodes in the
    app's worker thread): with the setting, the thread shares the configured heap."""
    kept_applied, kept = page_faults_of_ten_rounds(UOSAM_SYSTEM_MALLOC="0", IN_THREAD="1")
    system_applied, system = page_faults_of_ten_rounds(UOSAM_SYSTEM_MALLOC="1", IN_THREAD="1")
    assert kept_applied and not system_applied
    assert system > 10 * 3 * 16_384
    assert kept * 4 < system  # measured: 65k vs 820k faults


def test_the_engine_keeps_freed_memory_on_cpu(engine):
    from uosam_core import allocator

    assert engine.device.type == "cpu"
    assert allocator.keep_freed_memory() == sys.platform.startswith("linux")


@pytest.mark.parametrize("original_size", [(319, 320), (480, 640), (1024, 768), (37, 1000), (1, 300), (700, 1)])
def test_matrix_upscaling_equals_the_two_interpolations(engine, demo_stems, original_size):
    """Real decoded logits through SAM's postprocessing both ways: the same logits to float rounding."""
    image = load_demo(demo_stems[0])[0]
    embedding = engine.encode(image)
    points = np.array([[[image.shape[1] * 0.3, image.shape[0] * 0.4]], [[image.shape[1] * 0.7, image.shape[0] * 0.6]]],
                      np.float32)
    logits = engine.decode(embedding, Prompts(points, np.ones((2, 1), np.int64))).low_res_logits
    scale = 1024 / max(original_size)
    input_size = (max(1, int(original_size[0] * scale + 0.5)), max(1, int(original_size[1] * scale + 0.5)))
    matrix = engine.adapter.upscale(logits, input_size, original_size)
    chained = upscale_logits(logits, input_size, original_size)
    assert matrix.shape == chained.shape == (2, 3, *original_size)
    assert torch.allclose(matrix, chained, atol=1e-4, rtol=1e-5)
    differ = (matrix > 0) != (chained > 0)
    assert not differ[chained.abs() > 1e-4].any()


def test_axis_matrices_are_interpolation_weights():
    """Each row holds the weights of one output pixel: non-negative, summing to one, few taps."""
    rows = axis_resampling(256, 1024, 767, 480)
    assert rows.shape == (480, 256)
    assert (rows >= 0).all()
    assert torch.allclose(rows.sum(dim=1), torch.ones(480), atol=1e-6)
    assert ((rows > 0).sum(dim=1) <= 4).all()
