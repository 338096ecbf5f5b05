"""Gradients of the rasterizer op: analytic Jacobians against finite differences
(tf.test.compute_gradient, float32, central differences with delta 1e-3)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import tf_ops
from tests.jacobians import DELTA
from tests.jacobians import assert_jacobians_close

HEIGHT, WIDTH = 12, 16
# Two triangles sharing an edge plus a third overlapping one, all well inside the image, with
# different w per vertex so that perspective correction matters.
_NDC = np.array([[-0.7, -0.6, 0.1], [0.5, -0.7, 0.2], [-0.1, 0.7, 0.0], [0.7, 0.5, 0.3],
                 [-0.6, 0.1, -0.4], [0.2, -0.2, -0.3], [0.0, 0.6, -0.2]])
_W = np.array([1.0, 1.6, 0.7, 1.3, 0.9, 1.2, 2.0])
TRIANGLES = np.array([[0, 1, 2], [1, 3, 2], [4, 5, 6]], np.int32)


def clip_vertices(batch: int = 2) -> np.ndarray:
  """[B, V, 4]; item b is item 0 shifted a little so the items differ."""
  base = np.concatenate([_NDC * _W[:, None], _W[:, None]], -1)
  shifts = np.array([0.0, 0.05, -0.04])[:batch]
  out = np.stack([base + np.array([s, -s, 0.0, 0.0]) * _W[:, None] for s in shifts])
  return out.astype(np.float32)


def stable_pixels(clip: np.ndarray, delta: float = DELTA) -> np.ndarray:
  """Pixels whose triangle id is the same for every +-delta perturbation of any one input value.

  Finite differences are only meaningful there: elsewhere the visible triangle (and so the output)
  jumps, which the op deliberately does not differentiate.
  """
  base = tf_ops.rasterize(clip, TRIANGLES, (HEIGHT, WIDTH)).triangle_ids.numpy()
  stable = np.ones(base.shape, bool)
  for index in np.ndindex(clip.shape):
    for sign in (1, -1):
      moved = clip.copy()
      moved[index] += sign * delta
      stable &= tf_ops.rasterize(moved, TRIANGLES, (HEIGHT, WIDTH)).triangle_ids.numpy() == base
  return stable


def test_barycentric_jacobian_matches_finite_differences() -> None:
  clip = clip_vertices()
  stable = stable_pixels(clip)
  ids = tf_ops.rasterize(clip, TRIANGLES, (HEIGHT, WIDTH)).triangle_ids.numpy()
  covered = stable & (ids >= 0)
  assert covered.sum() > 40 and len(np.unique(ids[covered])) == 3

  def barycentrics(v: tf.Tensor) -> tf.Tensor:
    return tf_ops.rasterize(v, TRIANGLES, (HEIGHT, WIDTH)).barycentrics

  theoretical, numerical = tf.test.compute_gradient(barycentrics, [tf.constant(clip)], delta=DELTA)
  theoretical, numerical = theoretical[0], numerical[0]
  assert theoretical.shape == (ids.size * 3, clip.size)
  rows = np.repeat(stable.reshape(-1), 3)  # 3 barycentrics per pixel, row-major like the output
  assert_jacobians_close(theoretical, numerical, rows)
  # Background pixels have constant barycentrics (0): their rows must be exactly 0.
  background_rows = np.repeat((ids < 0).reshape(-1), 3)
  assert np.all(theoretical[background_rows] == 0)


def test_z_gets_zero_gradient() -> None:
  clip = clip_vertices(batch=1)

  def barycentrics(v: tf.Tensor) -> tf.Tensor:
    return tf_ops.rasterize(v, TRIANGLES, (HEIGHT, WIDTH)).barycentrics

  theoretical, _ = tf.test.compute_gradient(barycentrics, [tf.constant(clip)], delta=DELTA)
  per_coordinate = theoretical[0].reshape(-1, *clip.shape)  # [rows, B, V, 4]
  assert np.all(per_coordinate[..., 2] == 0)
  for c in (0, 1, 3):  # x, y and w do receive gradient
    assert np.any(per_coordinate[..., c] != 0)


def test_depth_and_ids_pass_no_gradient() -> None:
  clip = tf.constant(clip_vertices())
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(clip)
    out = tf_ops.rasterize(clip, TRIANGLES, (HEIGHT, WIDTH))
    depth_loss = tf.reduce_sum(out.depth)
    bary_loss = tf.reduce_sum(out.barycentrics * tf.constant([1.0, 2.0, 3.0]))
  grad = tape.gradient(depth_loss, clip)
  assert grad is None or np.all(grad.numpy() == 0)
  assert np.any(tape.gradient(bary_loss, clip).numpy() != 0)


def test_gradients_of_batch_equal_gradients_of_items() -> None:
  clip = clip_vertices(batch=3)
  weights = tf.random.stateless_normal([3, HEIGHT, WIDTH, 3], seed=[1, 2])

  def grad_of(v: np.ndarray, w: tf.Tensor) -> np.ndarray:
    v = tf.constant(v)
    with tf.GradientTape() as tape:
      tape.watch(v)
      loss = tf.reduce_sum(tf_ops.rasterize(v, TRIANGLES, (HEIGHT, WIDTH)).barycentrics * w)
    return tape.gradient(loss, v).numpy()

  batched = grad_of(clip, weights)
  for b in range(3):
    np.testing.assert_allclose(batched[b], grad_of(clip[b:b + 1], weights[b:b + 1])[0], rtol=1e-6,
                               atol=1e-6)
  unbatched = grad_of(clip[0], weights[0])
  assert unbatched.shape == clip.shape[1:]
  np.testing.assert_allclose(unbatched, batched[0], rtol=1e-6, atol=1e-6)


def test_offscreen_triangle_vertices_get_zero_gradient() -> None:
  clip = clip_vertices(batch=1)
  clip[0, 4:, 0] += 5.0 * clip[0, 4:, 3]  # move triangle 2 (vertices 4-6) right of the image
  v = tf.constant(clip)
  with tf.GradientTape() as tape:
    tape.watch(v)
    loss = tf.reduce_sum(tf_ops.rasterize(v, TRIANGLES, (HEIGHT, WIDTH)).barycentrics ** 2)
  grad = tape.gradient(loss, v).numpy()
  assert np.all(grad[0, 4:] == 0)
  assert np.any(grad[0, :4] != 0)


def _raster(batch: int = 2) -> tuple[np.ndarray, np.ndarray]:
  out = tf_ops.rasterize(clip_vertices(batch), TRIANGLES, (HEIGHT, WIDTH))
  return out.triangle_ids.numpy(), out.barycentrics.numpy()


def test_interpolate_jacobian_wrt_attributes() -> None:
  ids, bary = _raster()
  attrs = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)

  def interp(a: tf.Tensor) -> tf.Tensor:
    return tf_ops.interpolate(a, ids, bary, TRIANGLES)

  theoretical, numerical = tf.test.compute_gradient(interp, [tf.constant(attrs)], delta=DELTA)
  rows = np.ones(theoretical[0].shape[0], bool)
  assert_jacobians_close(theoretical[0], numerical[0], rows, rtol=1e-3)
  # Linear in the attributes: d out[b,y,x,c] / d attr[b,v,c] = sum of the pixel's barycentrics for v.
  jac = theoretical[0].reshape(2, HEIGHT, WIDTH, 3, 2, 7, 3)
  expected = np.zeros_like(jac)
  for b, y, x in np.ndindex(2, HEIGHT, WIDTH):
    if ids[b, y, x] >= 0:
      for k, vertex in enumerate(TRIANGLES[ids[b, y, x]]):
        for c in range(3):
          expected[b, y, x, c, b, vertex, c] += bary[b, y, x, k]
  np.testing.assert_allclose(jac, expected, atol=1e-6)


def test_interpolate_jacobian_wrt_shared_attributes() -> None:
  # [V, C] attributes are shared by the batch: their gradient sums over the batch items.
  ids, bary = _raster()
  attrs = np.random.default_rng(1).normal(size=(7, 1)).astype(np.float32)

  def interp(a: tf.Tensor) -> tf.Tensor:
    return tf_ops.interpolate(a, ids, bary, TRIANGLES)

  theoretical, numerical = tf.test.compute_gradient(interp, [tf.constant(attrs)], delta=DELTA)
  assert theoretical[0].shape == (2 * HEIGHT * WIDTH, 7)
  assert_jacobians_close(theoretical[0], numerical[0], np.ones(theoretical[0].shape[0], bool),
                         rtol=1e-3)


def test_interpolate_jacobian_wrt_barycentrics() -> None:
  ids, _ = _raster(batch=1)
  rng = np.random.default_rng(2)
  bary = rng.uniform(-0.5, 1.5, size=(1, HEIGHT, WIDTH, 3)).astype(np.float32)
  attrs = rng.normal(size=(1, 7, 2)).astype(np.float32)

  def interp(b: tf.Tensor) -> tf.Tensor:
    return tf_ops.interpolate(attrs, ids, b, TRIANGLES)

  theoretical, numerical = tf.test.compute_gradient(interp, [tf.constant(bary)], delta=DELTA)
  assert_jacobians_close(theoretical[0], numerical[0], np.ones(theoretical[0].shape[0], bool),
                         rtol=1e-3)
  # Background pixels: the output is constant 0, so their barycentrics get exactly 0.
  jac = theoretical[0].reshape(1, HEIGHT, WIDTH, 2, 1, HEIGHT, WIDTH, 3)
  for b, y, x in zip(*np.nonzero(ids < 0)):
    assert np.all(jac[:, :, :, :, b, y, x] == 0)


def test_rasterize_then_interpolate_chain_matches_finite_differences() -> None:
  # End to end: vertex colours interpolated over the rasterized image, differentiated w.r.t. clip xyzw.
  clip = clip_vertices(batch=1)
  colors = np.random.default_rng(0).uniform(size=(7, 3)).astype(np.float32)
  stable = stable_pixels(clip)

  def render(v: tf.Tensor) -> tf.Tensor:
    out = tf_ops.rasterize(v, TRIANGLES, (HEIGHT, WIDTH))
    return tf_ops.interpolate(colors, out.triangle_ids, out.barycentrics, TRIANGLES)

  theoretical, numerical = tf.test.compute_gradient(render, [tf.constant(clip)], delta=DELTA)
  rows = np.repeat(stable.reshape(-1), 3)
  assert_jacobians_close(theoretical[0], numerical[0], rows)
