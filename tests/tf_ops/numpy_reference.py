"""Pure-numpy reference rasterizer, written from the documented semantics in tf_ops/rasterizer.py.

Deliberately independent of the C++ kernel: float64 throughout, perspective-correct barycentrics
from screen-space weights divided by w (the kernel uses homogeneous cross products instead), and
a plain per-triangle z-buffer loop vectorized over the triangle's pixel bounding box.
"""

from __future__ import annotations

import typing

import numpy as np


class ReferenceOutput(typing.NamedTuple):
  triangle_ids: np.ndarray  # int32 [H, W]
  barycentrics: np.ndarray  # float64 [H, W, 3]
  depth: np.ndarray  # float64 [H, W]
  # Pixels whose outcome float32 rounding may legitimately flip: centre within `eps` of some
  # triangle's edge or of the near/far plane, or two covering fragments within `eps` in depth.
  ambiguous: np.ndarray  # bool [H, W]


def rasterize_one(clip_vertices: np.ndarray, triangles: np.ndarray, height: int, width: int,
                  eps: float = 1e-5) -> ReferenceOutput:
  """Rasterizes one mesh: clip_vertices [V, 4], triangles [T, 3] -> ReferenceOutput."""
  clip = np.asarray(clip_vertices, np.float64)
  tris = np.asarray(triangles, np.int64).reshape(-1, 3)
  ids = np.full((height, width), -1, np.int32)
  bary = np.zeros((height, width, 3))
  depth = np.ones((height, width))
  best = np.full((height, width), np.inf)  # smallest depth so far
  second = np.full((height, width), np.inf)  # second smallest, for tie detection
  ambiguous = np.zeros((height, width), bool)
  with np.errstate(all='ignore'):  # Non-finite input is filtered below, not an error.
    for t, (i0, i1, i2) in enumerate(tris):
      v = clip[[i0, i1, i2]]  # [3, 4]
      # Usable vertices have 2^-120 <= w <= 2^120 (kMinW, kMaxW in raster_common.h).
      if not np.all(np.isfinite(v)) or np.any(v[:, 3] < 2.0**-120) or np.any(v[:, 3] > 2.0**120):
        continue
      ndc = v[:, :3] / v[:, 3:4]
      if not np.all(np.isfinite(ndc)):
        continue
      # Continuous pixel coordinates: pixel (ix, iy) has its centre at (ix, iy).
      sx = (ndc[:, 0] + 1.0) * 0.5 * width - 0.5
      sy = (1.0 - ndc[:, 1]) * 0.5 * height - 0.5
      area = (sx[1] - sx[0]) * (sy[2] - sy[0]) - (sx[2] - sx[0]) * (sy[1] - sy[0])
      if area == 0 or not np.isfinite(area):
        continue
      # Bounding box grown by one pixel so that near-misses are flagged as ambiguous too.
      x0, x1 = max(int(np.ceil(sx.min())) - 1, 0), min(int(np.floor(sx.max())) + 1, width - 1)
      y0, y1 = max(int(np.ceil(sy.min())) - 1, 0), min(int(np.floor(sy.max())) + 1, height - 1)
      if x0 > x1 or y0 > y1:
        continue
      px, py = np.meshgrid(np.arange(x0, x1 + 1, dtype=np.float64),
                           np.arange(y0, y1 + 1, dtype=np.float64))
      # Screen-space (affine) barycentrics: signed sub-triangle areas / area (either winding).
      l0 = ((sx[1] - px) * (sy[2] - py) - (sx[2] - px) * (sy[1] - py)) / area
      l1 = ((sx[2] - px) * (sy[0] - py) - (sx[0] - px) * (sy[2] - py)) / area
      l2 = 1.0 - l0 - l1
      lmin = np.minimum(np.minimum(l0, l1), l2)
      z = l0 * ndc[0, 2] + l1 * ndc[1, 2] + l2 * ndc[2, 2]  # NDC depth is affine on screen
      covered = (lmin >= 0) & (z >= -1) & (z <= 1)
      loose = (lmin >= -eps) & (z >= -1 - eps) & (z <= 1 + eps)
      sure = (lmin >= eps) & (z >= -1 + eps) & (z <= 1 - eps)
      win = np.s_[y0:y1 + 1, x0:x1 + 1]
      ambiguous[win] |= loose & ~sure
      # Track the two nearest loosely covering depths to flag near-ties.
      zl = np.where(loose, z, np.inf)
      b_old = best[win].copy()
      second[win] = np.minimum(second[win], np.maximum(b_old, zl))
      best[win] = np.minimum(b_old, zl)
      # Strictly nearer wins; triangles come in increasing id, so an equal depth keeps the lower id.
      cur = np.where(ids[win] >= 0, depth[win], np.inf)
      take = covered & (z < cur)
      if not np.any(take):
        continue
      # Perspective-correct barycentrics: screen weights / w, renormalized.
      p = np.stack([l0 / v[0, 3], l1 / v[1, 3], l2 / v[2, 3]], axis=-1)
      p /= p.sum(axis=-1, keepdims=True)
      ids[win] = np.where(take, t, ids[win])
      depth[win] = np.where(take, z, depth[win])
      bary[win] = np.where(take[..., None], p, bary[win])
  tie = np.isfinite(second)
  ambiguous[tie] |= second[tie] - best[tie] <= eps
  return ReferenceOutput(ids, bary, depth, ambiguous)


def rasterize(clip_vertices: np.ndarray, triangles: np.ndarray, height: int,
              width: int, eps: float = 1e-5) -> ReferenceOutput:
  """Batched version: clip_vertices [B, V, 4] (or [V, 4]) -> outputs with a matching batch dim."""
  clip = np.asarray(clip_vertices)
  if clip.ndim == 2:
    return rasterize_one(clip, triangles, height, width, eps)
  outs = [rasterize_one(c, triangles, height, width, eps) for c in clip]
  return ReferenceOutput(*(np.stack(parts) for parts in zip(*outs)))


def interpolate(attributes: np.ndarray, triangle_ids: np.ndarray, barycentrics: np.ndarray,
                triangles: np.ndarray) -> np.ndarray:
  """out[..., c] = sum_k bary[..., k] * attributes[triangles[id, k], c]; 0 where id == -1.

  attributes [V, C] with unbatched ids [H, W]; batched callers loop over the batch.
  """
  attributes = np.asarray(attributes, np.float64)
  tris = np.asarray(triangles, np.int64)
  ids = np.asarray(triangle_ids)
  safe = np.maximum(ids, 0)
  corner_attrs = attributes[tris[safe]]  # [H, W, 3, C]
  out = np.einsum('hwk,hwkc->hwc', np.asarray(barycentrics, np.float64), corner_attrs)
  return np.where((ids >= 0)[..., None], out, 0.0)
