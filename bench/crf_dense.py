"""Dense CRF (Kraehenbuehl & Koltun 2011, via pydensecrf2) on hard label maps: the post-processing USS
users run today, as a comparison row of bench/quality.py. Bench-only: ``pip install -e '.[bench]'``.

Settings (docs/decisions/0016): the pairwise terms of STEGO's and CAUSE's ``dense_crf`` (DeepLab-v2
ResNet-101 values: Gaussian sxy 1 / weight 3, bilateral sxy 67 / srgb 3 / weight 4, 10 iterations); the
unary from the hard labels as pydensecrf's own label example does (``unary_from_labels``, gt_prob 0.7),
over all the set's classes; ids outside 0..N-1 (void) get a uniform unary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_UNARY_VALUES = 200_000_000  # classes x pixels; above this (800 MB of float32 unary) the CRF is skipped


@dataclass(frozen=True)
class CrfSettings:
    """Dense CRF parameters (pydensecrf names)."""

    gt_prob: float = 0.7  # confidence given to the baseline's label at each pixel (0 < p < 1)
    pos_xy_std: float = 1.0  # Gaussian (smoothness) kernel: position std in pixels
    pos_w: float = 3.0  # Gaussian kernel weight (Potts compatibility)
    bi_xy_std: float = 67.0  # bilateral (appearance) kernel: position std in pixels
    bi_rgb_std: float = 3.0  # bilateral kernel: colour std (0..255 RGB)
    bi_w: float = 4.0  # bilateral kernel weight
    iterations: int = 10

    def describe(self) -> str:
        """One line for the report."""
        return (f"dense CRF: unary from hard labels gt_prob {self.gt_prob}, Gaussian sxy {self.pos_xy_std} "
                f"w {self.pos_w}, bilateral sxy {self.bi_xy_std} srgb {self.bi_rgb_std} w {self.bi_w}, "
                f"{self.iterations} iterations")


def unavailable_reason() -> str | None:
    """None when pydensecrf2 imports, else one line saying why the CRF row is skipped."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError as error:  # not installed, or built against another Python / numpy
        return f"dense CRF skipped: pydensecrf2 is not importable ({error}); install it: pip install -e '.[bench]'"
    return None


def unary_from_hard_labels(labels: np.ndarray, num_classes: int, gt_prob: float) -> np.ndarray:
    """Negative log-probabilities, num_classes x (H*W) float32 C-order, from HxW integer ``labels``.

    A pixel's own class gets probability ``gt_prob``, every other class (1 - gt_prob) / (N - 1); pixels
    whose id is outside 0..N-1 (void) get the uniform 1 / N.
    """
    if not 0.0 < gt_prob < 1.0:
        raise ValueError(f"gt_prob must be in (0, 1), got {gt_prob}")
    if num_classes < 2:
        raise ValueError(f"a dense CRF needs at least 2 classes, got {num_classes}")
    flat = labels.reshape(-1)
    unary = np.full((num_classes, flat.size), -np.log((1.0 - gt_prob) / (num_classes - 1)), np.float32)
    known = (flat >= 0) & (flat < num_classes)
    unary[flat[known], np.flatnonzero(known)] = -np.log(gt_prob)
    unary[:, ~known] = -np.log(1.0 / num_classes)
    return unary


def dense_crf(image: np.ndarray, labels: np.ndarray, num_classes: int,
              settings: CrfSettings | None = None) -> np.ndarray:
    """Dense CRF labels (HxW int32) of HxW integer ``labels`` on ``image`` (HxWx3 uint8 RGB).

    Inputs are not modified. Raises ImportError when pydensecrf2 is missing and ValueError when the
    sizes differ or the unary would exceed :data:`MAX_UNARY_VALUES`.
    """
    import pydensecrf.densecrf as dcrf

    settings = settings or CrfSettings()
    if image.shape[:2] != labels.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image {image.shape} and labels {labels.shape} must be HxWx3 and HxW of one size")
    height, width = labels.shape
    if num_classes * height * width > MAX_UNARY_VALUES:
        raise ValueError(f"{width}x{height} pixels x {num_classes} classes is over the CRF's "
                         f"{MAX_UNARY_VALUES:,}-value limit")
    crf = dcrf.DenseCRF2D(width, height, num_classes)
    crf.setUnaryEnergy(unary_from_hard_labels(labels, num_classes, settings.gt_prob))
    crf.addPairwiseGaussian(sxy=settings.pos_xy_std, compat=settings.pos_w)
    rgb = np.array(image, dtype=np.uint8, order="C", copy=True)  # pydensecrf needs a writable buffer
    crf.addPairwiseBilateral(sxy=settings.bi_xy_std, srgb=settings.bi_rgb_std, rgbim=rgb, compat=settings.bi_w)
    marginals = np.asarray(crf.inference(settings.iterations), np.float32).reshape(num_classes, height, width)
    return marginals.argmax(0).astype(np.int32)
