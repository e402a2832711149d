"""One image through UO-SAM: encode once, LRO, compose, GRO, vote; and cheap re-composition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .changes import risk, summarize
from .config import RefineConfig
from .engine import Embedding, SamEngine
from .gro import run_gro
from .lcm import GridMap
from .lro import UNKNOWN, compose_lro, redecode_object, run_lro
from .precision import EdgeMap, check_precision
from .result import ObjectPrompts, RefineResult
from .voting import fill_unknown, vote, vote_options

Progress = Callable[[str, float], None]
"""Called with (stage, fraction done) at each step of a refinement; may raise :class:`Cancelled`."""

# share of a typical CPU refinement spent before each stage (encode ~15%, LRO ~10%, GRO ~75%)
_STAGE_START = {"encode": 0.0, "lro": 0.15, "gro": 0.25, "done": 1.0}


def class_maps(objects: list) -> dict[int, GridMap]:
    """Class id -> the LCM (grid) of that class's largest object."""
    maps: dict[int, GridMap] = {}
    for obj in sorted(objects, key=lambda o: o.area):
        maps[obj.class_id] = obj.lcm_grid
    return maps


class Cancelled(Exception):
    """Raised by a progress callback to stop a refinement between steps."""


def _no_progress(stage: str, fraction: float) -> None:
    return None


class Refiner:
    """Refines label maps with one loaded engine and one configuration."""

    def __init__(self, engine: SamEngine, config: RefineConfig | None = None) -> None:
        self.engine = engine
        self.config = config or RefineConfig()

    def refine(self, image: np.ndarray, baseline: np.ndarray, embedding: Embedding | None = None,
               progress: Progress | None = None) -> RefineResult:
        """Refine ``baseline`` (HxW int ids) of ``image`` (HxWx3 uint8 RGB); never modifies inputs.

        ``progress(stage, fraction)`` is called before the encode, the LRO, every GRO decoder batch
        and at the end; raising :class:`Cancelled` from it stops the run.
        """
        progress = progress or _no_progress
        if image.shape[:2] != baseline.shape:
            raise ValueError(f"labels {baseline.shape} do not match image {image.shape[:2]}")
        config = self.config
        timings: dict[str, float] = {}
        progress("encode", _STAGE_START["encode"])
        start = time.perf_counter()
        embedding = embedding or self.engine.encode(image)
        timings["encode"] = time.perf_counter() - start
        baseline = baseline.astype(np.int32, copy=True)
        objects = []
        if config.lro.enabled:
            progress("lro", _STAGE_START["lro"])
            start = time.perf_counter()
            objects = run_lro(self.engine, embedding, baseline, config.lro, ignore_ids=config.ignore_ids,
                              background_ids=config.background_ids)
            timings["lro"] = time.perf_counter() - start
        lro_labels = compose_lro(baseline, objects, config.lro)
        gro = None
        if config.gro.profile != "off":
            progress("gro", _STAGE_START["gro"])
            gro_share = _STAGE_START["done"] - _STAGE_START["gro"]
            start = time.perf_counter()
            gro = run_gro(self.engine, embedding, image, lro_labels, config.gro, ignore_ids=config.ignore_ids,
                          on_batch=lambda done: progress("gro", _STAGE_START["gro"] + gro_share * min(done, 1.0)))
            timings["gro"] = time.perf_counter() - start
        start = time.perf_counter()
        edges = EdgeMap.of(image)
        timings["check"] = time.perf_counter() - start
        result = RefineResult(baseline=baseline, objects=objects, lro_labels=lro_labels, gro=gro,
                              labels=lro_labels, timings=timings, edge_map=edges)
        result = self.recompose(result)
        start = time.perf_counter()
        result.precision = check_precision(edges, result.baseline, result.labels, config.precision)
        timings["check"] += time.perf_counter() - start
        if self.check_keeps_baseline(result):
            result = self.recompose(result)  # held back: the baseline
        progress("done", _STAGE_START["done"])
        return result

    def check_keeps_baseline(self, result: RefineResult) -> bool:
        """Whether this refiner's baseline check (enabled, and failed for ``result``) keeps the baseline,
        unless a user chose the refinement (``result.refine_anyway``)."""
        check = result.precision
        return self.config.precision.enabled and check is not None and not check.passed

    def recompose(self, result: RefineResult) -> RefineResult:
        """Rebuild the LRO map and the final labels from the objects' current masks and decisions,
        re-voting the existing GRO masks (no decoding), and the change records and risk. Returns the
        same result, updated; the GRO's vote maps are painted again only when read.

        An image whose refinement failed the baseline check (``result.precision``, with the check
        enabled) is held back unless ``result.refine_anyway``: its objects use their refined masks only
        where a user accepted them, and the GRO masks do not vote (``result.baseline_kept``).
        """
        config = self.config
        held = self.check_keeps_baseline(result) and not result.refine_anyway
        for obj in result.objects:
            obj.held_by_check = held
        lro_source = np.full(result.baseline.shape, -1, np.int32)
        result.lro_labels = compose_lro(result.baseline, result.objects, config.lro, source=lro_source)
        labels = result.lro_labels
        gro_source = gro_evidence = None
        if held and result.gro is not None:
            result.gro = replace(result.gro, mask_painted=np.zeros(len(result.gro.masks), bool), vote_class=None,
                                 vote_share=None)
        elif result.gro is not None and len(result.gro.masks):
            gro_source = np.full(result.baseline.shape, -1, np.int32)
            votes = vote(result.lro_labels, result.gro.masks, ignore_ids=config.ignore_ids, source=gro_source,
                         class_maps=class_maps(result.objects), edge_map=result.edge_map,
                         **vote_options(config.gro, result.baseline.size))
            labels = votes.labels
            gro_evidence = votes.shares
            result.gro = replace(result.gro, mask_classes=votes.classes, mask_shares=votes.shares,
                                 mask_painted=votes.painted, vote_class=None, vote_share=None)
        labels = fill_unknown(labels)
        if (labels == UNKNOWN).all():
            labels = result.baseline.copy()
        result.labels = labels
        lro_evidence = np.array([obj.iou_with_baseline for obj in result.objects], np.float32)
        result.changes = summarize(result.baseline, labels, lro_source, gro_source, lro_evidence, gro_evidence)
        result.risk = risk(result.changes, result.baseline.size)
        result.baseline_kept = held
        return result

    def judge(self, result: RefineResult) -> None:
        """Hold ``result``'s check measurements against this refiner's bars (a result refined alike but
        judged with other bars: a stored one); recompose it after (:meth:`rejudge` does both)."""
        if result.precision is not None:
            result.precision = result.precision.judged(self.config.precision)

    def rejudge(self, result: RefineResult) -> RefineResult:
        """:meth:`judge` and recompose ``result``; no decoding. Returns the same result."""
        self.judge(result)
        return self.recompose(result)

    def redecode(self, result: RefineResult, image: np.ndarray, object_index: int, prompts: ObjectPrompts
                 ) -> RefineResult:
        """Decode one object again from edited prompts (cached embedding) and recompose."""
        embedding = self.engine.encode(image)
        result.objects[object_index] = redecode_object(self.engine, embedding, result.objects[object_index],
                                                       prompts, self.config.lro)
        return self.recompose(result)
