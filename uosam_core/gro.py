"""Global region optimizer: SAM masks of the whole image, voted into classes by the LRO map.

Two mask generators: ``paper`` runs segment-anything's SamAutomaticMaskGenerator with the public
UO-SAM script's settings; ``fast`` spends prompts only where a vote can change a label.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage
from torchvision.ops import batched_nms

from .config import GroConfig
from .engine import Embedding, Prompts, SamEngine, crop_low_res
from .result import GroResult
from .sam_package import (
    SamAutomaticMaskGenerator,
    batched_mask_to_box,
    build_point_grid,
    calculate_stability_score,
    remove_small_regions,
)
from .voting import vote

FAST_BATCH = 16


def class_edges(labels: np.ndarray) -> np.ndarray:
    """Bool map of pixels whose right or lower neighbour has another label."""
    edges = np.zeros(labels.shape, bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edges[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    edges[1:, :] |= labels[:-1, :] != labels[1:, :]
    return edges


def boundary_points(lro_labels: np.ndarray, config: GroConfig) -> np.ndarray:
    """Grid points (x, y) within the boundary band of a class edge, in a fixed spread-out order."""
    height, width = lro_labels.shape
    grid = build_point_grid(config.fast_points_per_side) * np.array([width, height])
    edges = class_edges(lro_labels)
    if not edges.any():
        return np.zeros((0, 2), np.float32)
    distance = ndimage.distance_transform_edt(~edges)
    rows = np.clip(grid[:, 1].astype(int), 0, height - 1)
    cols = np.clip(grid[:, 0].astype(int), 0, width - 1)
    near = distance[rows, cols] <= config.boundary_band * max(height, width)
    points = grid[near]
    order = np.random.default_rng(0).permutation(len(points))
    return points[order].astype(np.float32)


def _postprocess(masks: torch.Tensor, scores: torch.Tensor, config: GroConfig) -> tuple[np.ndarray, np.ndarray]:
    """Remove small islands and holes (as SAM's AMG does), then box NMS by predicted IoU."""
    cleaned, keep_scores = [], []
    for mask, score in zip(masks.numpy(), scores.tolist()):
        if config.min_mask_region_area > 0:
            mask, _ = remove_small_regions(mask, config.min_mask_region_area, mode="holes")
            mask, _ = remove_small_regions(mask, config.min_mask_region_area, mode="islands")
        if mask.any():
            cleaned.append(mask)
            keep_scores.append(score)
    if not cleaned:
        return np.zeros((0, *masks.shape[1:]), bool), np.zeros(0, np.float32)
    stacked = torch.from_numpy(np.stack(cleaned))
    score_tensor = torch.tensor(keep_scores, dtype=torch.float32)
    boxes = batched_mask_to_box(stacked).float()
    keep = batched_nms(boxes, score_tensor, torch.zeros(len(boxes)), iou_threshold=config.box_nms_thresh)
    return stacked[keep].numpy(), score_tensor[keep].numpy()


def fast_masks(engine: SamEngine, embedding: Embedding, lro_labels: np.ndarray, config: GroConfig,
               on_batch: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """SAM masks from boundary-band points, skipping points already covered by kept masks.

    Filtering (predicted IoU, stability) and coverage run on the 256x256 low-res logits; only the
    kept masks are upsampled. Returns (masks M x H x W, scores, prompts spent). ``on_batch`` gets the
    share of the prompt budget spent after each decoder batch (it may raise to stop the run).
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
        decoded = engine.decode(embedding, Prompts(batch[:, None, :], np.ones((len(batch), 1))), multimask=True)
        logits = crop_low_res(decoded.low_res_logits, embedding.input_size).flatten(0, 1)
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
        return np.zeros((0, height, width), bool), np.zeros(0, np.float32), spent
    logits = torch.cat(kept_logits)[:, None]
    masks = engine.upscale(embedding, logits)[:, 0] > 0
    cleaned, scores = _postprocess(masks, torch.cat(kept_scores), config)
    return cleaned, scores, spent


class _CachedPredictor:
    """The slice of SamPredictor that SamAutomaticMaskGenerator uses, backed by our engine.

    Crops are encoded through the engine's cache; prompts stay in crop pixels (the engine maps them).
    """

    class _IdentityTransform:
        @staticmethod
        def apply_coords(coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
            return coords

    def __init__(self, engine: SamEngine) -> None:
        self.engine = engine
        self.model = engine.model
        self.device = torch.device("cpu")
        self.transform = self._IdentityTransform()
        self.embedding: Embedding | None = None
        self.prompt_count = 0

    def set_image(self, image: np.ndarray) -> None:
        self.embedding = self.engine.encode(np.ascontiguousarray(image))

    def reset_image(self) -> None:
        self.embedding = None

    def predict_torch(self, point_coords, point_labels, boxes=None, mask_input=None, multimask_output=True,
                      return_logits=False):
        assert self.embedding is not None
        self.prompt_count += len(point_coords)
        decoded = self.engine.decode(self.embedding, Prompts(point_coords.numpy(), point_labels.numpy()),
                                     multimask=multimask_output)
        masks = self.engine.upscale(self.embedding, decoded.low_res_logits)
        if not return_logits:
            masks = masks > 0
        return masks, decoded.scores, decoded.low_res_logits


def paper_masks(engine: SamEngine, image: np.ndarray, config: GroConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """SamAutomaticMaskGenerator with the public script's settings. Returns (masks, scores, prompts)."""
    predictor = _CachedPredictor(engine)
    generator = SamAutomaticMaskGenerator.__new__(SamAutomaticMaskGenerator)
    SamAutomaticMaskGenerator.__init__(
        generator, engine.model, points_per_side=config.points_per_side, pred_iou_thresh=config.pred_iou_thresh,
        stability_score_thresh=config.stability_score_thresh, box_nms_thresh=config.box_nms_thresh,
        crop_n_layers=config.crop_n_layers, crop_n_points_downscale_factor=config.crop_n_points_downscale_factor,
        min_mask_region_area=config.min_mask_region_area,
    )
    generator.predictor = predictor
    records = generator.generate(image)
    if not records:
        return np.zeros((0, *image.shape[:2]), bool), np.zeros(0, np.float32), predictor.prompt_count
    masks = np.stack([record["segmentation"] for record in records])
    scores = np.array([record["predicted_iou"] for record in records], np.float32)
    return masks, scores, predictor.prompt_count


def run_gro(engine: SamEngine, embedding: Embedding, image: np.ndarray, lro_labels: np.ndarray, config: GroConfig,
            *, ignore_ids: tuple[int, ...], on_batch: Callable[[float], None] | None = None) -> GroResult:
    """Generate masks with the configured profile and vote them into classes, largest first."""
    encodes_before = engine.encode_count
    if config.profile == "paper":
        masks, scores, spent = paper_masks(engine, image, config)
    else:
        masks, scores, spent = fast_masks(engine, embedding, lro_labels, config, on_batch)
    order = np.argsort(-masks.reshape(len(masks), -1).sum(axis=1), kind="stable")
    masks, scores = masks[order], scores[order]
    _, classes, shares, vote_class, vote_share = vote(lro_labels, masks, ignore_ids=ignore_ids,
                                                      min_share=config.min_vote_share,
                                                      max_fraction=config.max_mask_fraction)
    return GroResult(profile=config.profile, masks=masks, mask_scores=scores, mask_classes=classes,
                     mask_shares=shares, vote_class=vote_class, vote_share=vote_share, prompt_count=spent,
                     encode_count=engine.encode_count - encodes_before)
