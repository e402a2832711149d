"""Local region optimizer: refine every baseline object with LCM-derived prompts, all in one batch.

Memory (docs/decisions/0008): objects, LCMs and step masks are kept compact; a full-resolution mask
or LCM exists for one object at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import LroConfig
from .engine import Embedding, Prompts, SamEngine
from .lcm import GridMap, lcm_grids
from .masks import CompactMask
from .objects import extract_objects, largest_component, mask_box, mask_iou
from .result import ObjectPrompts, ObjectResult

UNKNOWN = -1  # label of pixels left for the GRO vote / nearest fill


def lcm_prompts(mask: np.ndarray, lcm: np.ndarray) -> ObjectPrompts:
    """Positive point at the LCM max inside the object's largest component, negative at the LCM
    min outside the object, and that component's box (the paper's LCC box). mask: HxW bool, lcm: HxW float32."""
    component = largest_component(mask)
    inside = np.where(component, lcm, -np.inf)
    row, col = np.unravel_index(int(np.argmax(inside)), lcm.shape)
    del inside
    outside = np.where(mask, np.inf, lcm)
    if np.isfinite(outside).any():
        neg_row, neg_col = np.unravel_index(int(np.argmin(outside)), lcm.shape)
        negative = [(neg_col + 0.5, neg_row + 0.5)]
    else:
        negative = []
    return ObjectPrompts(positive=[(col + 0.5, row + 0.5)], negative=negative, box=mask_box(component))


def lcm_contrast(mask: np.ndarray, lcm: np.ndarray) -> float:
    """Mean LCM inside the object minus mean LCM outside it (1.0 when the object fills the image)."""
    if mask.all():
        return 1.0
    return float(lcm[mask].mean() - lcm[~mask].mean())


def verdict(iou: float, contrast: float, config: LroConfig) -> bool:
    """Whether a refined object is trusted: it agrees with its baseline and its LCM is distinct."""
    return iou >= config.iou_threshold and contrast >= config.min_lcm_contrast


@dataclass
class _Decoded:
    """One object's step-1 and step-2 decode: compact masks, scores, the step-1 logits (1x256x256)."""

    step1: CompactMask
    step1_scores: np.ndarray
    step1_logits: torch.Tensor
    step2_box: tuple[float, float, float, float] | None
    step2: CompactMask
    step2_score: float


def _pack(prompt_list: list[ObjectPrompts]) -> Prompts:
    """Stack per-object prompts into one decoder batch, padding point lists with label -1."""
    width = max(len(p.positive) + len(p.negative) for p in prompt_list)
    width = max(width, 1)
    points = np.zeros((len(prompt_list), width, 2), np.float32)
    labels = -np.ones((len(prompt_list), width), np.int64)
    for row, prompts in enumerate(prompt_list):
        coords = list(prompts.positive) + list(prompts.negative)
        points[row, : len(coords)] = coords
        labels[row, : len(coords)] = [1] * len(prompts.positive) + [0] * len(prompts.negative)
    boxes = None
    if all(p.box is not None for p in prompt_list):
        boxes = np.array([p.box for p in prompt_list], np.float32)
    return Prompts(points=points, point_labels=labels, boxes=boxes)


def upscale_dense(engine: SamEngine, embedding: Embedding, logits: torch.Tensor) -> np.ndarray:
    """One mask's 1x1x256x256 low-res logits -> HxW bool mask (logits > 0 at image resolution)."""
    return (engine.upscale(embedding, logits)[0, 0] > 0).numpy()


def upscale_mask(engine: SamEngine, embedding: Embedding, logits: torch.Tensor) -> CompactMask:
    """One mask's 1x1x256x256 low-res logits -> compact HxW mask (one dense mask exists meanwhile)."""
    return CompactMask.from_dense(upscale_dense(engine, embedding, logits))


def _decode_group(engine: SamEngine, embedding: Embedding, prompt_list: list[ObjectPrompts],
                  cascade: bool) -> list[_Decoded]:
    """Run step 1 (multimask, best score) and step 2 (step-1 box + logits) for a group of objects;
    decoding is batched, upsampling one mask at a time."""
    step1 = engine.decode(embedding, _pack(prompt_list), multimask=True)
    best = step1.scores.argmax(dim=1)
    rows = torch.arange(len(prompt_list))
    best_logits = step1.low_res_logits[rows, best][:, None]  # N x 1 x 256 x 256
    best_scores = step1.scores[rows, best].tolist()
    outputs = []
    for index in range(len(prompt_list)):
        mask = upscale_mask(engine, embedding, best_logits[index: index + 1])
        outputs.append(_Decoded(step1=mask, step1_scores=step1.scores[index].numpy().copy(),
                                step1_logits=best_logits[index].clone(), step2_box=mask.xyxy(),
                                step2=mask, step2_score=float(best_scores[index]) if not cascade else 0.0))
    if not cascade:
        return outputs
    cascaded = [i for i, output in enumerate(outputs) if output.step2_box is not None]
    if cascaded:
        packed = _pack([prompt_list[i] for i in cascaded])
        step2_prompts = Prompts(points=packed.points, point_labels=packed.point_labels,
                                boxes=np.array([outputs[i].step2_box for i in cascaded], np.float32),
                                mask_inputs=best_logits[cascaded])
        step2 = engine.decode(embedding, step2_prompts, multimask=False)
        for row, index in enumerate(cascaded):
            outputs[index].step2 = upscale_mask(engine, embedding, step2.low_res_logits[row: row + 1])
            outputs[index].step2_score = float(step2.scores[row, 0])
    return outputs


def run_lro(engine: SamEngine, embedding: Embedding, baseline: np.ndarray, config: LroConfig, *,
            ignore_ids: tuple[int, ...], background_ids: tuple[int, ...]) -> list[ObjectResult]:
    """Refine every object of ``baseline`` (HxW int); returns one ObjectResult per object, largest first."""
    objects = extract_objects(baseline, ignore_ids=ignore_ids, background_ids=background_ids,
                              min_area=config.min_object_area, mode=config.object_mode)
    if not objects:
        return []
    grids = lcm_grids([mask for _, mask in objects], embedding)
    prompt_list, contrasts = [], []
    for (_, mask), grid in zip(objects, grids):
        dense, lcm = mask.dense(), grid.full(keep=False)
        prompt_list.append(lcm_prompts(dense, lcm))
        contrasts.append(lcm_contrast(dense, lcm))
        del dense, lcm
    decoded = _decode_group(engine, embedding, prompt_list, config.cascade)
    return [_object_result(index, class_id, mask, grid, contrast, prompts, output, config)
            for index, ((class_id, mask), grid, contrast, prompts, output)
            in enumerate(zip(objects, grids, contrasts, prompt_list, decoded))]


def _object_result(index: int, class_id: int, mask: CompactMask, grid: GridMap, contrast: float,
                   prompts: ObjectPrompts, output: _Decoded, config: LroConfig, **extra) -> ObjectResult:
    """An ObjectResult from one object's decode output, judged against its baseline mask."""
    iou = mask_iou(output.step2, mask)
    return ObjectResult(
        index=index, class_id=class_id, baseline=mask, lcm_grid=grid, prompts=prompts,
        step1=output.step1, step1_scores=output.step1_scores, step1_logits=output.step1_logits,
        step2_box=output.step2_box, step2=output.step2, step2_score=output.step2_score,
        iou_with_baseline=iou, lcm_contrast=contrast, accepted=verdict(iou, contrast, config), **extra,
    )


def redecode_object(engine: SamEngine, embedding: Embedding, obj: ObjectResult, prompts: ObjectPrompts,
                    config: LroConfig) -> ObjectResult:
    """Decode one object again from edited prompts (cached embedding); returns an updated copy."""
    if not prompts.positive and prompts.box is None:
        raise ValueError("an object needs at least one positive point or a box")
    output = _decode_group(engine, embedding, [prompts], config.cascade)[0]
    return _object_result(obj.index, obj.class_id, obj.baseline, obj.lcm_grid, obj.lcm_contrast, prompts, output,
                          config, decision=obj.decision, edited=True)


def compose_lro(baseline: np.ndarray, objects: list[ObjectResult], config: LroConfig,
                source: np.ndarray | None = None) -> np.ndarray:
    """Paint the refined mask of every used object over the baseline (HxW int), largest first (so small
    objects stay on top); rejected objects are not painted, so their pixels keep the baseline unless
    a used object claims them. Pixels refined away and claimed by none become the fallback.
    Returns a new HxW int32 map; masks are painted inside their boxes. ``source`` (HxW int32), when
    given, receives the index (in ``objects``) of the object that painted each pixel."""
    labels = baseline.astype(np.int32).copy()
    marks_unknown = config.fallback == "ignore"
    refined_away = np.zeros(baseline.shape, bool) if marks_unknown else None
    claimed = np.zeros(baseline.shape, bool) if marks_unknown else None
    for position, obj in sorted(enumerate(objects), key=lambda item: -item[1].area):
        if not obj.uses_refined:
            continue
        if refined_away is not None and claimed is not None:
            if obj.baseline.area:
                refined_away[obj.baseline.slices] |= obj.baseline.crop() & ~obj.step2.window(obj.baseline.box)
            obj.step2.paint(claimed, True)
        obj.step2.paint(labels, obj.class_id)
        if source is not None:
            obj.step2.paint(source, position)
    if refined_away is not None and claimed is not None:
        labels[refined_away & ~claimed] = UNKNOWN
    return labels
