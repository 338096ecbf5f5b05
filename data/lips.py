"""Lip masks, lip contours and their distance transforms from the 68 iBUG landmarks or the 468-point mesh.

iBUG-68 mouth points: outer contour 48-59 (48 and 54 the mouth corners, 51 the top of the upper lip, 57 the
bottom of the lower lip), inner contour 60-67 (60 and 64 the inner corners). The upper lip is the polygon
between the outer upper contour 48..54 and the inner upper contour 64..60, the lower lip the polygon between
the outer lower contour 54..59,48 and the inner lower contour 60,67..64.

MediaPipe face mesh (``data.face_mesh``; indices of ``canonical_face_model.obj``, MediaPipe's
``FACEMESH_LIPS``): outer contour 61 (image-left corner) .. 0 (top) .. 291 over the upper lip and 291 .. 17
(bottom) .. 61 under the lower lip, inner contour 78 .. 13 .. 308 and 308 .. 14 .. 78; every consecutive
pair is an edge of the mesh (11 points per contour). The lips are the same polygons as for dlib.

Coordinates are crop pixels (x right, y down, (i, j) = centre of pixel column i, row j).
"""

from __future__ import annotations

import numpy as np

from data import schema
from model import config as model_config
from model import semantics

UPPER_OUTER = (48, 49, 50, 51, 52, 53, 54)
UPPER_INNER = (60, 61, 62, 63, 64)
LOWER_OUTER = (54, 55, 56, 57, 58, 59, 48)
LOWER_INNER = (64, 65, 66, 67, 60)
UPPER_LIP_POLYGON = UPPER_OUTER + tuple(reversed(UPPER_INNER))
LOWER_LIP_POLYGON = LOWER_OUTER + tuple(reversed(LOWER_INNER))
CONTOUR_INDICES = {'upper_outer': UPPER_OUTER, 'upper_inner': UPPER_INNER,
                   'lower_outer': LOWER_OUTER, 'lower_inner': LOWER_INNER}
MESH_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
MESH_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
MESH_LOWER_OUTER = (291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61)
MESH_LOWER_INNER = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)
MESH_CONTOUR_INDICES = {'upper_outer': MESH_UPPER_OUTER, 'upper_inner': MESH_UPPER_INNER,
                        'lower_outer': MESH_LOWER_OUTER, 'lower_inner': MESH_LOWER_INNER}
MESH_NUM_POINTS = 468
# Distance used for pixels of a frame whose contour is missing (no points).
NO_CONTOUR_DISTANCE = 1000.0
_SUBPIXEL_BITS = 4


def _points(points: np.ndarray, count: int, what: str) -> np.ndarray:
  pts = np.asarray(points, np.float32)
  if pts.shape != (count, 2):
    raise ValueError(f'Expected {what} as [{count}, 2] (x, y) points, got shape {pts.shape}.')
  return pts


def lip_contours(landmarks: np.ndarray) -> list[np.ndarray]:
  """The four lip contour polylines (float32 [P, 2]) of 68 landmarks, in ``schema.LIP_CONTOURS`` order."""
  lm = _points(landmarks, semantics.NUM_LANDMARKS, '68 landmarks')
  return [lm[list(CONTOUR_INDICES[name])] for name in schema.LIP_CONTOURS]


def mesh_lip_contours(mesh_points: np.ndarray) -> list[np.ndarray]:
  """The four lip contours (float32 [11, 2]) of the 468 face-mesh points, in ``schema.LIP_CONTOURS`` order,
  oriented like the 68-landmark ones."""
  pts = _points(mesh_points, MESH_NUM_POINTS, 'the face mesh')
  return [pts[list(MESH_CONTOUR_INDICES[name])] for name in schema.LIP_CONTOURS]


def resample_polyline(points: np.ndarray, count: int) -> np.ndarray:
  """``count`` points spaced evenly by arc length along a polyline (endpoints kept): float32 [count, 2].

  Dense contours (e.g. projected mesh loops) are stored resampled: the distance transform's cost grows with
  the number of segments, and at crop resolution ~16 points follow a lip contour to a fraction of a pixel.
  """
  pts = np.asarray(points, np.float64).reshape(-1, 2)
  if len(pts) <= 1:
    return np.repeat(pts, count if len(pts) else 0, 0).astype(np.float32)
  s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
  t = np.linspace(0.0, s[-1], count)
  return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], -1).astype(np.float32)


def rasterize_polygon(polygon: np.ndarray, size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """Fills a polygon given in pixel-centre coordinates; returns a bool [size, size] mask."""
  import cv2  # pylint: disable=g-import-not-at-top
  mask = np.zeros((size, size), np.uint8)
  pts = np.round(np.asarray(polygon, np.float64) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
  cv2.fillPoly(mask, [pts.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
  return mask.astype(bool)


def label_map_from_contours(contours, size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """uint8 [size, size] label map (0 other, 1 upper lip, 2 lower lip) from the four lip contours in
  ``schema.LIP_CONTOURS`` order: the upper lip is the polygon upper outer + reversed upper inner, the lower
  lip lower outer + reversed lower inner (filled at 1/16 pixel precision; the lower lip wins overlaps)."""
  c = dict(zip(schema.LIP_CONTOURS, (np.asarray(p, np.float32).reshape(-1, 2) for p in contours)))
  out = np.zeros((size, size), np.uint8)
  out[rasterize_polygon(np.concatenate([c['upper_outer'], c['upper_inner'][::-1]]), size)] = \
      semantics.REGION_UPPER_LIP
  out[rasterize_polygon(np.concatenate([c['lower_outer'], c['lower_inner'][::-1]]), size)] = \
      semantics.REGION_LOWER_LIP
  return out


def lip_label_map(landmarks: np.ndarray, size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """uint8 [size, size] label map: 0 other, 1 upper lip, 2 lower lip (from the landmark polygons)."""
  return label_map_from_contours(lip_contours(landmarks), size)


def mesh_lip_label_map(mesh_points: np.ndarray, size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """uint8 [size, size] label map of the lips of the 468 face-mesh points (see ``lip_label_map``)."""
  return label_map_from_contours(mesh_lip_contours(mesh_points), size)


def distance_transforms_np(contours, size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """Reference (numpy) distance of every pixel centre to each polyline: float32 [size, size, K]."""
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
  p = np.stack([xs.ravel(), ys.ravel()], -1)
  out = []
  for c in contours:
    c = np.asarray(c, np.float32).reshape(-1, 2)
    if len(c) == 0:
      out.append(np.full(size * size, NO_CONTOUR_DISTANCE, np.float32))
      continue
    a, b = (c[:-1], c[1:]) if len(c) > 1 else (c, c)
    ab = b - a
    t = np.clip(((p[:, None] - a[None]) * ab[None]).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    d = np.linalg.norm(p[:, None] - (a[None] + t[..., None] * ab[None]), axis=-1)
    out.append(d.min(1))
  return np.stack(out, -1).reshape(size, size, len(contours)).astype(np.float32)


def distance_transforms_cv2(contours, size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """Fast distance transforms: float32 [size, size, K]; each polyline is drawn (1/16 px precision) and
  OpenCV's precise Euclidean distance transform measured to the drawn pixels. The drawn pixels lie up to
  ~0.5 px off the polyline, so values are within ~1 px (mean ~0.3 px) of the exact distance
  (``distance_transforms_np``), at ~100x less cost than the exact brute force."""
  import cv2  # pylint: disable=g-import-not-at-top
  out = np.empty((size, size, len(contours)), np.float32)
  for k, c in enumerate(contours):
    c = np.asarray(c, np.float64).reshape(-1, 2)
    if len(c) == 0:
      out[..., k] = NO_CONTOUR_DISTANCE
      continue
    img = np.full((size, size), 255, np.uint8)
    pts = np.round(c * (1 << _SUBPIXEL_BITS)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [pts], False, 0, 1, cv2.LINE_8, _SUBPIXEL_BITS)
    if len(c) == 1 or not np.any(img == 0):  # a point, or a contour outside the image: exact fallback
      out[..., k] = distance_transforms_np([c], size)[..., 0]
      continue
    out[..., k] = cv2.distanceTransform(img, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
  return out


def distance_transforms_tf(points, lengths, size: int = model_config.IMAGE_SIZE):
  """Exact distance of every pixel centre to each polyline, in TensorFlow (brute force over segments:
  exact but ~1 s per 4-frame sample on a CPU core; the pipeline uses ``distance_transforms_cv2``).

  Args:
    points: float32 [N, 2] all polylines' points concatenated (x, y crop pixels).
    lengths: int [K] points per polyline (sum = N); polylines with one point give the distance to that
      point, empty ones ``NO_CONTOUR_DISTANCE``.
    size: output height = width.

  Returns:
    float32 [K, size, size] distances in pixels.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  points = tf.reshape(tf.cast(points, tf.float32), [-1, 2])
  lengths = tf.cast(tf.reshape(lengths, [-1]), tf.int32)
  k = tf.shape(lengths)[0]
  n = tf.shape(points)[0]
  contour_of_point = tf.repeat(tf.range(k), lengths)
  # Segments join consecutive points of the same polyline; a one-point polyline is a zero-length segment.
  nxt = tf.minimum(tf.range(n) + 1, tf.maximum(n - 1, 0))
  same = tf.equal(tf.gather(contour_of_point, nxt), contour_of_point) & (tf.range(n) + 1 < n)
  single = tf.equal(tf.gather(lengths, contour_of_point), 1)
  keep = same | single
  a = tf.boolean_mask(points, keep)
  b = tf.boolean_mask(tf.where(single[:, None], points, tf.gather(points, nxt)), keep)
  seg_contour = tf.boolean_mask(contour_of_point, keep)
  grid = tf.range(size, dtype=tf.float32)
  yy, xx = tf.meshgrid(grid, grid, indexing='ij')
  p = tf.stack([tf.reshape(xx, [-1]), tf.reshape(yy, [-1])], -1)  # [P, 2]
  ab = b - a  # [S, 2]
  ap = p[None] - a[:, None]  # [S, P, 2]
  t = tf.clip_by_value(tf.reduce_sum(ap * ab[:, None], -1) /
                       tf.maximum(tf.reduce_sum(ab * ab, -1), 1e-12)[:, None], 0.0, 1.0)
  d = tf.norm(ap - t[..., None] * ab[:, None], axis=-1)  # [S, P]
  dmin = tf.math.unsorted_segment_min(d, seg_contour, k)
  # Empty polylines (no segments) come back as +max float: give them the documented constant.
  has = tf.math.unsorted_segment_max(tf.ones_like(seg_contour), seg_contour, k) > 0
  dmin = tf.where(has[:, None], dmin, NO_CONTOUR_DISTANCE)
  return tf.reshape(dmin, [k, size, size])


def inner_contour_points(pixels: np.ndarray, max_points: int = schema.MAX_CONTOUR_POINTS) -> np.ndarray:
  """Image points of an inner lip contour from its marked pixels: float32 [n <= max_points, 2] (x, y).

  The marked pixels (``model.image_formation.inner_lip_contour_pixels`` of the ground-truth render) are
  ordered left to right in the image (the inner contours run from mouth corner to mouth corner; reverse
  the lower one for the iBUG order 64 -> 60) and, when there are more than ``max_points``, subsampled
  evenly in that order.

  Args:
    pixels: {0, 1} [S, S] marked pixels (row = y, column = x; pixel centres at integer coordinates).
    max_points: most points returned.
  """
  rows, cols = np.nonzero(pixels > 0.5)
  order = np.lexsort((rows, cols))
  points = np.stack([cols[order], rows[order]], -1).astype(np.float32)
  if len(points) > max_points:
    points = points[np.round(np.linspace(0, len(points) - 1, max_points)).astype(np.int64)]
  return points
