"""Compact bool masks: a bounding box plus the bit-packed pixels inside it (docs/decisions/0008).

A refinement keeps dozens of object and SAM masks; stored dense (HxW bool each) they grow with the
image size times their count. Here each costs about (box area) / 8 bytes, and a full-resolution
array exists only while one mask is being made or read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

RowColBox = tuple[int, int, int, int]  # (top, left, bottom, right) rows / cols, bottom and right exclusive


@dataclass(frozen=True, eq=False)
class CompactMask:
    """One HxW bool mask stored as its bounding box and the bit-packed crop inside it.

    shape: (H, W) of the full mask; box: (top, left, bottom, right), (0, 0, 0, 0) when empty;
    bits: ``np.packbits`` of the (bottom - top) x (right - left) crop, row-major, uint8; area: pixels set.
    """

    shape: tuple[int, int]
    box: RowColBox
    bits: np.ndarray
    area: int

    @classmethod
    def from_dense(cls, mask: np.ndarray) -> CompactMask:
        """Compress an HxW bool mask (not kept, not modified)."""
        if mask.ndim != 2:
            raise ValueError(f"a mask must be HxW, got shape {mask.shape}")
        return cls.from_crop(mask, 0, 0, (int(mask.shape[0]), int(mask.shape[1])))

    @classmethod
    def from_crop(cls, crop: np.ndarray, top: int, left: int, shape: tuple[int, int]) -> CompactMask:
        """Compress a bool crop whose pixel (0, 0) sits at (top, left) of an HxW mask (empty margins trimmed)."""
        rows = np.flatnonzero(crop.any(axis=1))
        if rows.size == 0:
            return cls((int(shape[0]), int(shape[1])), (0, 0, 0, 0), np.zeros(0, np.uint8), 0)
        cols = np.flatnonzero(crop.any(axis=0))
        trimmed = crop[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1].astype(bool, copy=False)
        box = (top + int(rows[0]), left + int(cols[0]), top + int(rows[-1]) + 1, left + int(cols[-1]) + 1)
        return cls((int(shape[0]), int(shape[1])), box, np.packbits(trimmed, axis=None),
                   int(np.count_nonzero(trimmed)))

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, cols) slices of the bounding box, for indexing an HxW array."""
        top, left, bottom, right = self.box
        return slice(top, bottom), slice(left, right)

    def crop(self) -> np.ndarray:
        """The (bottom - top) x (right - left) bool pixels inside the box (a new array)."""
        top, left, bottom, right = self.box
        size = (bottom - top) * (right - left)
        return np.unpackbits(self.bits, count=size).view(bool).reshape(bottom - top, right - left)

    def dense(self) -> np.ndarray:
        """The full HxW bool mask (a new array)."""
        full = np.zeros(self.shape, bool)
        if self.area:
            full[self.slices] = self.crop()
        return full

    def window(self, box: RowColBox) -> np.ndarray:
        """This mask's pixels inside another (top, left, bottom, right) box: a bool array of that box's size."""
        top, left, bottom, right = box
        out = np.zeros((bottom - top, right - left), bool)
        m_top, m_left, m_bottom, m_right = self.box
        rows = slice(max(top, m_top), min(bottom, m_bottom))
        cols = slice(max(left, m_left), min(right, m_right))
        if self.area and rows.start < rows.stop and cols.start < cols.stop:
            out[rows.start - top: rows.stop - top, cols.start - left: cols.stop - left] = \
                self.crop()[rows.start - m_top: rows.stop - m_top, cols.start - m_left: cols.stop - m_left]
        return out

    def paint(self, target: np.ndarray, value: float | int | bool) -> None:
        """Write ``value`` into ``target`` (HxW, modified in place) wherever the mask is set."""
        if self.area:
            target[self.slices][self.crop()] = value

    def contains(self, x: int, y: int) -> bool:
        """Whether pixel (x, y) is set (reads one bit)."""
        top, left, bottom, right = self.box
        if not (self.area and top <= y < bottom and left <= x < right):
            return False
        bit = (y - top) * (right - left) + (x - left)
        return bool((int(self.bits[bit >> 3]) >> (7 - (bit & 7))) & 1)

    def xyxy(self) -> tuple[float, float, float, float] | None:
        """XYXY pixel box (inclusive-exclusive) as :func:`objects.mask_box` gives it; None when empty."""
        if not self.area:
            return None
        top, left, bottom, right = self.box
        return float(left), float(top), float(right), float(bottom)

    @property
    def nbytes(self) -> int:
        """Bytes held by the packed pixels."""
        return int(self.bits.nbytes)


def union_box(first: RowColBox, second: RowColBox) -> RowColBox:
    """The smallest box holding both (an all-zero box counts as empty)."""
    if first[2] <= first[0] or first[3] <= first[1]:
        return second
    if second[2] <= second[0] or second[3] <= second[1]:
        return first
    return (min(first[0], second[0]), min(first[1], second[1]), max(first[2], second[2]), max(first[3], second[3]))


class MaskStack(Sequence[np.ndarray]):
    """M masks of one HxW image, compact; reads like an M x H x W bool array, one mask at a time.

    ``stack[i]`` and iteration give dense HxW bool masks (materialised on access); ``stack.compact(i)``
    the :class:`CompactMask`; ``np.asarray(stack)`` the full M x H x W bool array (avoid on large images).
    """

    def __init__(self, masks: Sequence[CompactMask], shape: tuple[int, int]) -> None:
        self._masks = tuple(masks)
        self.image_shape = (int(shape[0]), int(shape[1]))
        for mask in self._masks:
            if mask.shape != self.image_shape:
                raise ValueError(f"mask of shape {mask.shape} in a stack of {self.image_shape} masks")

    @classmethod
    def from_dense(cls, masks: np.ndarray) -> MaskStack:
        """From an M x H x W bool array."""
        if masks.ndim != 3:
            raise ValueError(f"masks must be M x H x W, got shape {masks.shape}")
        return cls([CompactMask.from_dense(mask) for mask in masks], masks.shape[1:])

    def __len__(self) -> int:
        return len(self._masks)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return MaskStack(self._masks[index], self.image_shape)
        return self._masks[index].dense()

    def __iter__(self) -> Iterator[np.ndarray]:
        for mask in self._masks:
            yield mask.dense()

    def compact(self, index: int) -> CompactMask:
        """The stored form of mask ``index``."""
        return self._masks[index]

    @property
    def compacts(self) -> tuple[CompactMask, ...]:
        """Every stored mask, in order."""
        return self._masks

    def select(self, indices: Sequence[int] | np.ndarray) -> MaskStack:
        """A stack of the masks at ``indices``, in that order."""
        return MaskStack([self._masks[int(i)] for i in indices], self.image_shape)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(M, H, W), as the dense array would have."""
        return (len(self._masks), *self.image_shape)

    dtype = np.dtype(bool)
    ndim = 3

    @property
    def areas(self) -> np.ndarray:
        """(M,) int64 pixels per mask."""
        return np.array([mask.area for mask in self._masks], np.int64)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        dense = np.zeros(self.shape, bool)
        for index, mask in enumerate(self._masks):
            mask.paint(dense[index], True)
        return dense if dtype is None else dense.astype(dtype)

    def outline(self) -> np.ndarray:
        """HxW bool: pixels on the edge of any mask (1-px morphological gradient, as the GUI draws it)."""
        import cv2

        outline = np.zeros(self.image_shape, bool)
        kernel = np.ones((3, 3), np.uint8)
        height, width = self.image_shape
        for mask in self._masks:
            if not mask.area:
                continue
            top, left, bottom, right = mask.box
            box = (max(top - 1, 0), max(left - 1, 0), min(bottom + 1, height), min(right + 1, width))
            window = mask.window(box).astype(np.uint8)
            edge = cv2.morphologyEx(window, cv2.MORPH_GRADIENT, kernel).astype(bool)
            outline[box[0]: box[2], box[1]: box[3]] |= edge
        return outline

    @property
    def nbytes(self) -> int:
        """Bytes held by the packed masks."""
        return sum(mask.nbytes for mask in self._masks)
