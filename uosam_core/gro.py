"""Global region optimizer: SAM masks of the whole image, voted into classes by the LRO map.

Two mask generators: ``paper`` runs segment-anything's SamAutomaticMaskGenerator with the public
UO-SAM script's settings; ``fast`` spends prompts only where a vote can change a label.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree
from torchvision.ops import batched_nms

from .config import GroConfig
from .engine import Embedding, Prompts, SamEngine  # encoder geometry: Embedding.crop_low_res only
from .masks import CompactMask, MaskStack
from .precision import class_edges
from .result import GroResult
from .sam_package import (
    SamAutomaticMaskGenerator,
    build_point_grid,
    calculate_stability_score,
    remove_small_regions,
    rle_to_mask,
)
from .voting import vote, vote_options

FAST_BATCH = 8  # prompts per decode; the coverage skip runs after each (docs/decisions/0019)
UPSCALE_PIXELS = 16 * 1024 * 1024  # fast profile: kept masks upsampled together up to this many logits
PAPER_BATCH_PIXELS = 4_000_000  # images larger than this run the paper profile's AMG with smaller batches


def boundary_points(lro_labels: np.ndarray, config: GroConfig) -> np.ndarray:
    """Grid points (x, y) within the boundary band of a class edge, in a fixed spread-out order."""
    height, width = lro_labels.shape
    grid = build_point_grid(config.fast_points_per_side) * np.array([width, height])
    edge_rows, edge_cols = np.nonzero(class_edges(lro_labels))
    if edge_rows.size == 0:
        return np.zeros((0, 2), np.float32)
    rows = np.clip(grid[:, 1].astype(int), 0, height - 1)
    cols = np.clip(grid[:, 0].astype(int), 0, width - 1)
    # exact Euclidean distance to the nearest edge pixel, as a distance transform gives it, for the grid only
    tree = cKDTree(np.stack([edge_rows, edge_cols], axis=1).astype(np.float64))
    distance, _ = tree.query(np.stack([rows, cols], axis=1).astype(np.float64))
    near = distance <= config.boundary_band * max(height, width)
    points = grid[near]
    order = np.random.default_rng(0).permutation(len(points))
    return points[order].astype(np.float32)


def clean_mask(mask: np.ndarray, config: GroConfig) -> np.ndarray:
    """Remove small holes and islands of an HxW bool mask (as SAM's AMG does)."""
    if config.min_mask_region_area > 0:
        mask, _ = remove_small_regions(mask, config.min_mask_region_area, mode="holes")
        mask, _ = remove_small_regions(mask, config.min_mask_region_area, mode="islands")
    return mask


def clean_compact(mask: np.ndarray, config: GroConfig) -> CompactMask:
    """:func:`clean_mask` of an HxW bool mask, done inside its box, as a compact mask (the same pixels).

    Islands lie inside the box. A hole is a small background component: inside the box padded by one
    background line on every side that is not the image border, a component that reaches a padding
    line reaches the background beyond the box, whose strip on that side is whole image rows or
    columns (at least ``min(H, W)`` pixels), so it is never small when ``min(H, W)`` reaches the area
    limit; else the whole image is cleaned.
    """
    area = config.min_mask_region_area
    height, width = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    if area <= 0 or rows.size == 0 or min(height, width) < area:
        return CompactMask.from_dense(clean_mask(mask, config))
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    pads = ((int(top > 0), int(bottom < height)), (int(left > 0), int(right < width)))
    padded = np.pad(mask[top:bottom, left:right], pads)
    count, regions, stats, _ = cv2.connectedComponentsWithStats((~padded).astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < area
    small[0] = False  # label 0: the mask itself
    lines = np.zeros(padded.shape, bool)
    lines[: pads[0][0]], lines[padded.shape[0] - pads[0][1]:] = True, True
    lines[:, : pads[1][0]], lines[:, padded.shape[1] - pads[1][1]:] = True, True
    small[np.unique(regions[lines])] = False  # they reach the background beyond the box
    if small.any():
        padded = padded | small[regions]
    crop = padded[pads[0][0]: padded.shape[0] - pads[0][1], pads[1][0]: padded.shape[1] - pads[1][1]]
    crop, _ = remove_small_regions(crop, area, mode="islands")
    return CompactMask.from_crop(crop, top, left, (height, width))


def _box_nms(masks: list[CompactMask], scores: list[float], config: GroConfig) -> tuple[MaskStack, np.ndarray]:
    """Box NMS by predicted IoU over non-empty masks; boxes are inclusive XYXY as SAM's AMG takes them."""

    boxes = torch.tensor([[m.box[1], m.box[0], m.box[3] - 1, m.box[2] - 1] for m in masks], dtype=torch.float32)
    score_tensor = torch.tensor(scores, dtype=torch.float32)
    keep = batched_nms(boxes, score_tensor, torch.zeros(len(boxes)), iou_threshold=config.box_nms_thresh)
    return MaskStack([masks[int(i)] for i in keep], masks[0].shape), score_tensor[keep].numpy()


def _upscale_chunk(embedding: Embedding) -> int:
    """Masks upsampled per call: at most UPSCALE_PIXELS float logits at the encoder and at the image size."""
    largest = max(embedding.original_size[0] * embedding.original_size[1], embedding.encoder_size ** 2)
    return max(1, UPSCALE_PIXELS // largest)


def fast_masks(engine: SamEngine, embedding: Embedding, lro_labels: np.ndarray, config: GroConfig,
               on_batch: Callable[[float], None] | None = None) -> tuple[MaskStack, np.ndarray, int]:
    """SAM masks from boundary-band points, skipping points already covered by kept masks.

    Filtering (predicted IoU, stability) and coverage run on the 256x256 low-res logits; only the
    kept masks are upsampled, one at a time. Returns (M compact masks, (M,) float32 scores, prompts
    spent). ``on_batch`` gets the share of the prompt budget spent after each decoder batch (it may
    raise to stop the run).
    """
    points = boundary_points(lro_labels, config)
    height, width = lro_labels.shape
    kept_logits: list[torch.Tensor] = []
    kept_scores: list[torch.Tensor] = []
    covered = None
    spent = 0
    pending = points
    while len(pending) and spent < config.max_prompts:
        batch = pending[: min(FAST_BATCH, config.max_prompts - spent)]
        pending = pending[len(batch):]
        spent += len(batch)
        if on_batch is not None:
            on_batch(spent / config.max_prompts)
        decoded = engine.decode(embedding, Prompts(batch[:, None, :], np.ones((len(batch), 1))), multimask=True,
                                min_score=config.pred_iou_thresh)  # masks scored lower are never read
        logits = embedding.crop_low_res(decoded.low_res_logits).flatten(0, 1)
        scores = decoded.scores.flatten()
        stability = calculate_stability_score(logits, 0.0, 1.0)
        keep = (scores > config.pred_iou_thresh) & (stability >= config.stability_score_thresh)
        if keep.any():
            kept_logits.append(decoded.low_res_logits.flatten(0, 1)[keep])
            kept_scores.append(scores[keep])
            new_cover = (logits[keep] > 0).any(dim=0)
            covered = new_cover if covered is None else covered | new_cover
        if covered is not None and len(pending):
            rows_low, cols_low = covered.shape
            rows = np.clip((pending[:, 1] * rows_low / height).astype(int), 0, rows_low - 1)
            cols = np.clip((pending[:, 0] * cols_low / width).astype(int), 0, cols_low - 1)
            pending = pending[~covered.numpy()[rows, cols]]
    if not kept_logits:
        return MaskStack([], (height, width)), np.zeros(0, np.float32), spent
    logits = torch.cat(kept_logits)[:, None]  # M x 1 x 256 x 256
    cleaned: list[CompactMask] = []
    cleaned_scores: list[float] = []
    scores_list = torch.cat(kept_scores).tolist()
    chunk = _upscale_chunk(embedding)
    for start in range(0, len(scores_list), chunk):  # a few full-resolution masks at a time
        dense = engine.upscale(embedding, logits[start: start + chunk])[:, 0] > 0
        for offset, score in enumerate(scores_list[start: start + chunk]):
            mask = clean_compact(dense[offset].numpy(), config)
            if mask.area:
                cleaned.append(mask)
                cleaned_scores.append(score)
        del dense
    if not cleaned:
        return MaskStack([], (height, width)), np.zeros(0, np.float32), spent
    masks, scores = _box_nms(cleaned, cleaned_scores, config)
    return masks, scores, spent


def paper_masks(engine: SamEngine, image: np.ndarray, config: GroConfig) -> tuple[MaskStack, np.ndarray, int]:
    """SamAutomaticMaskGenerator with the public script's settings. Returns (M compact masks, scores, prompts)."""
    generator = SamAutomaticMaskGenerator(  # backed by the engine (any model family) through its adapter
        engine, points_per_side=config.points_per_side, pred_iou_thresh=config.pred_iou_thresh,
        stability_score_thresh=config.stability_score_thresh, box_nms_thresh=config.box_nms_thresh,
        crop_n_layers=config.crop_n_layers, crop_n_points_downscale_factor=config.crop_n_points_downscale_factor,
        min_mask_region_area=config.min_mask_region_area,
    )
    predictor = generator.predictor
    pixels = image.shape[0] * image.shape[1]
    if pixels > PAPER_BATCH_PIXELS:  # each batch holds 3 float32 logits per point at full resolution
        generator.points_per_batch = max(1, min(generator.points_per_batch, PAPER_BATCH_PIXELS * 16 // pixels))
    generator.output_mode = "uncompressed_rle"  # decoded below one mask at a time, not all at once
    records = generator.generate(image)
    shape = (int(image.shape[0]), int(image.shape[1]))
    masks = MaskStack([CompactMask.from_dense(rle_to_mask(record.pop("segmentation"))) for record in records],
                      shape)
    scores = np.array([record["predicted_iou"] for record in records], np.float32)
    return masks, scores, predictor.prompt_count


def run_gro(engine: SamEngine, embedding: Embedding, image: np.ndarray, lro_labels: np.ndarray, config: GroConfig,
            *, ignore_ids: tuple[int, ...], on_batch: Callable[[float], None] | None = None) -> GroResult:
    """Generate masks with the configured profile and vote them into classes, largest first.

    ``lro_labels``: HxW int32; the result keeps the masks compact (vote maps are painted when read)."""
    encodes_before = engine.encode_count
    if config.profile == "paper":
        masks, scores, spent = paper_masks(engine, image, config)
    else:
        masks, scores, spent = fast_masks(engine, embedding, lro_labels, config, on_batch)
    order = np.argsort(-masks.areas, kind="stable")
    masks, scores = masks.select(order), scores[order]
    votes = vote(lro_labels, masks, ignore_ids=ignore_ids, **vote_options(config, lro_labels.size))
    return GroResult(profile=config.profile, masks=masks, mask_scores=scores, mask_classes=votes.classes,
                     mask_shares=votes.shares, mask_painted=votes.painted, prompt_count=spent,
                     encode_count=engine.encode_count - encodes_before)
