"""Contract for extreme w (raster_common.h, kMinW / kMaxW): a vertex with w outside [2^-120, 2^120] is
unusable like w <= 0, so every covered pixel has finite barycentrics summing to 1.

The TF op runs with flush-to-zero (as TensorFlow sets it); the same contract without flush-to-zero is
checked by the kernel fuzz harness (tests/tf_ops/test_sanitizer_fuzz.py runs both modes).
"""

from __future__ import annotations

import numpy as np
import pytest

import tf_ops

MIN_W, MAX_W = np.float32(2.0**-120), np.float32(2.0**120)


def test_vertex_with_huge_w_skips_its_triangle() -> None:
  # Issue 15's example: 1/w of 1e38 is denormal, which used to give barycentrics (0, 0, 0).
  out = tf_ops.rasterize([[0, 0, 0, 1e38], [1, -1, 0, 1], [-1, -1, 0, 1]], [[0, 1, 2]], (1, 1))
  assert out.triangle_ids.numpy()[0, 0] == -1
  np.testing.assert_array_equal(out.barycentrics.numpy(), 0.0)


@pytest.mark.parametrize('w, usable', [(MAX_W, True), (np.nextafter(MAX_W, np.inf), False),
                                       (MIN_W, True), (np.nextafter(MIN_W, np.float32(0)), False),
                                       (np.float32(1e-45), False), (np.float32(3e38), False)])
def test_w_range_bounds_decide_coverage(w: np.float32, usable: bool) -> None:
  # Vertex 0 keeps its NDC position (0, 0.9) for every w; the triangle covers the image centre.
  clip = np.array([[0, 0.9, 0, 1], [0.9, -0.9, 0, 1], [-0.9, -0.9, 0, 1]], np.float32)
  clip[0] *= w
  out = tf_ops.rasterize(clip, [[0, 1, 2]], (5, 5))
  ids = out.triangle_ids.numpy()
  assert (ids[2, 2] == 0) == usable
  bary = out.barycentrics.numpy()[ids == 0]
  assert np.all(np.isfinite(bary)) and np.all(bary >= 0)
  np.testing.assert_allclose(bary.sum(-1), 1.0, atol=1e-6)


def test_random_extreme_w_keeps_covered_barycentrics_finite_and_normalised() -> None:
  rng = np.random.default_rng(3)
  exponents = rng.uniform(-130, 127, (4, 60))  # 2^127 < FLT_MAX; 2^-130 is denormal
  w = (2.0**exponents).astype(np.float32)
  ndc = rng.uniform(-1.2, 1.2, (4, 60, 3)).astype(np.float32)
  clip = np.concatenate([ndc * w[..., None], w[..., None]], -1).astype(np.float32)
  triangles = np.stack([rng.choice(60, 3, replace=False) for _ in range(80)]).astype(np.int32)
  out = tf_ops.rasterize(clip, triangles, (32, 32))
  ids = out.triangle_ids.numpy()
  covered = ids >= 0
  assert covered.any() and not covered.all()
  bary = out.barycentrics.numpy()[covered]
  assert np.all(np.isfinite(bary)) and np.all(bary >= 0)
  np.testing.assert_allclose(bary.sum(-1), 1.0, atol=1e-5)
  # Winning triangles only use vertices inside the usable range.
  used_w = np.take_along_axis(w, triangles[np.maximum(ids, 0)].reshape(4, -1), 1).reshape(4, 32, 32, 3)
  assert np.all((used_w[covered] >= MIN_W) & (used_w[covered] <= MAX_W))
