"""Forward pass of the rasterizer op against the numpy reference, the tf_mesh_renderer renders and the
documented conventions (depth order, perspective correction, batching, eager/graph)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tf_ops
from tests.tf_ops import numpy_reference

REFERENCE_DIR = pathlib.Path('/work/shared/reference/tf_mesh_renderer')


def random_mesh(rng: np.random.Generator, batch: int, num_vertices: int, num_triangles: int,
                height: int, width: int, min_altitude_px: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
  """Random clip-space meshes [B, V, 4] with varying w, some geometry off screen or beyond near/far.

  Triangles are drawn from a shared vertex pool (so edges and vertices are shared) and kept only when
  every triangle of the batch has all altitudes >= min_altitude_px on screen: float32 slivers are
  ill-conditioned (depth/barycentric error ~1e-4), which is rounding, not semantics.
  """
  w = rng.uniform(0.5, 2.0, (batch, num_vertices, 1))
  xy = rng.uniform(-1.2, 1.2, (batch, num_vertices, 2)) * w
  z = rng.uniform(-1.1, 1.1, (batch, num_vertices, 1)) * w
  clip = np.concatenate([xy, z, w], -1).astype(np.float32)
  c64 = clip.astype(np.float64)
  sx = (c64[..., 0] / c64[..., 3] + 1) * 0.5 * width
  sy = (1 - c64[..., 1] / c64[..., 3]) * 0.5 * height
  kept = []
  while len(kept) < num_triangles:
    tri = rng.choice(num_vertices, 3, replace=False)
    px, py = sx[:, tri], sy[:, tri]  # [B, 3]
    area2 = np.abs((px[:, 1] - px[:, 0]) * (py[:, 2] - py[:, 0]) -
                   (px[:, 2] - px[:, 0]) * (py[:, 1] - py[:, 0]))
    edges = np.hypot(px - np.roll(px, 1, axis=1), py - np.roll(py, 1, axis=1))
    if np.all(area2 / edges.max(axis=1) >= min_altitude_px):
      kept.append(tri)
  return clip, np.asarray(kept, np.int32)


def check_against_reference(out: tf_ops.RasterOutput, ref: numpy_reference.ReferenceOutput) -> None:
  ids = out.triangle_ids.numpy()
  assert ids.shape == ref.triangle_ids.shape
  # The ambiguity mask must stay a small minority, or the comparison would prove nothing.
  assert ref.ambiguous.mean() < 0.02, ref.ambiguous.mean()
  mismatch = ids != ref.triangle_ids
  assert not np.any(mismatch & ~ref.ambiguous), np.argwhere(mismatch & ~ref.ambiguous)[:10]
  assert mismatch.mean() < 0.005
  same = ~mismatch & ~ref.ambiguous
  np.testing.assert_allclose(out.barycentrics.numpy()[same], ref.barycentrics[same], atol=1e-5, rtol=0)
  np.testing.assert_allclose(out.depth.numpy()[same], ref.depth[same], atol=1e-5, rtol=0)


@pytest.mark.parametrize('seed', range(6))
def test_random_meshes_match_numpy_reference(seed: int) -> None:
  rng = np.random.default_rng(seed)
  height, width = [(24, 32), (17, 29), (40, 40)][seed % 3]
  clip, tris = random_mesh(rng, batch=2, num_vertices=25, num_triangles=15, height=height, width=width)
  out = tf_ops.rasterize(clip, tris, (height, width))
  ref = numpy_reference.rasterize(clip, tris, height, width)
  assert (ref.triangle_ids >= 0).mean() > 0.3  # The scene really covers the image.
  assert len(np.unique(ref.triangle_ids)) > 5  # ...with many visible triangles.
  check_against_reference(out, ref)


def test_random_meshes_interpolate_matches_numpy_reference() -> None:
  rng = np.random.default_rng(42)
  clip, tris = random_mesh(rng, batch=2, num_vertices=20, num_triangles=12, height=20, width=24)
  attrs = rng.normal(size=(2, 20, 5)).astype(np.float32)
  out = tf_ops.rasterize(clip, tris, (20, 24))
  got = tf_ops.interpolate(attrs, out.triangle_ids, out.barycentrics, tris).numpy()
  for b in range(2):
    want = numpy_reference.interpolate(attrs[b], out.triangle_ids[b].numpy(),
                                       out.barycentrics[b].numpy(), tris)
    np.testing.assert_allclose(got[b], want, atol=1e-5, rtol=1e-5)
  assert np.all(got[out.triangle_ids.numpy() < 0] == 0)


# --- tf_mesh_renderer reference renders ------------------------------------------------------------

def _look_at(eye: np.ndarray, center: np.ndarray, up: np.ndarray) -> np.ndarray:
  forward = (center - eye) / np.linalg.norm(center - eye)
  side = np.cross(forward, up)
  side /= np.linalg.norm(side)
  cam_up = np.cross(side, forward)
  rot = np.stack([side, cam_up, -forward])
  view = np.eye(4)
  view[:3, :3] = rot
  view[:3, 3] = -rot @ eye
  return view


def _perspective(aspect: float, fov_y_deg: float, near: float, far: float) -> np.ndarray:
  f = 1.0 / np.tan(np.radians(fov_y_deg) / 2)
  return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                   [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                   [0, 0, -1, 0]])


_CUBE_VERTICES = np.array([[-1, -1, 1], [-1, -1, -1], [-1, 1, -1], [-1, 1, 1], [1, -1, 1], [1, -1, -1],
                           [1, 1, -1], [1, 1, 1]], np.float64)
_CUBE_TRIANGLES = np.array([[0, 1, 2], [2, 3, 0], [3, 2, 6], [6, 7, 3], [7, 6, 5], [5, 4, 7], [4, 5, 1],
                            [1, 0, 4], [5, 6, 2], [2, 1, 5], [7, 4, 0], [0, 3, 7]], np.int32)
_TRIANGLE = np.array([[-0.5, -0.5, 0.8, 1.0], [0.0, 0.5, 0.3, 1.0], [0.5, -0.5, 0.3, 1.0]], np.float32)


def _render_reference_scene(name: str) -> np.ndarray:
  """Renders scene `name` of SOURCE.txt with our op; RGBA float in the reference's row order."""
  height, width = 480, 640
  if name in ('Simple_Triangle', 'Perspective_Corrected_Triangle'):
    clip = _TRIANGLE.copy()
    if name == 'Perspective_Corrected_Triangle':
      clip *= np.array([[0.2], [0.5], [2.0]], np.float32)
    out = tf_ops.rasterize(clip, [[0, 1, 2]], (height, width))
    rgba = np.concatenate([out.barycentrics.numpy(), np.ones((height, width, 1))], -1)
  else:
    eye = np.array([2.0, 3.0, 6.0]) if name == 'Unlit_Cube_0' else np.array([-3.0, 1.0, 6.0])
    mvp = _perspective(width / height, 40.0, 0.01, 10.0) @ _look_at(eye, np.zeros(3),
                                                                    np.array([0.0, 1.0, 0.0]))
    homogeneous = np.concatenate([_CUBE_VERTICES, np.ones((8, 1))], -1)
    clip = (homogeneous @ mvp.T).astype(np.float32)
    colors = np.concatenate([_CUBE_VERTICES * 0.5 + 0.5, np.ones((8, 1))], -1).astype(np.float32)
    out = tf_ops.rasterize(clip, _CUBE_TRIANGLES, (height, width))
    rgba = tf_ops.interpolate(colors, out.triangle_ids, out.barycentrics, _CUBE_TRIANGLES).numpy()
    # Coverage as alpha: background is (0, 0, 0, 0) already; covered alpha = sum of barycentrics.
  # tf_mesh_renderer's buffer row 0 is NDC y = -1 (bottom); ours is the top row.
  return rgba[::-1]


@pytest.mark.parametrize('name', ['Simple_Triangle', 'Perspective_Corrected_Triangle', 'Unlit_Cube_0',
                                  'Unlit_Cube_1'])
def test_matches_tf_mesh_renderer_reference_render(name: str) -> None:
  expected = np.asarray(Image.open(REFERENCE_DIR / f'{name}.png'), np.float64) / 255.0
  got = _render_reference_scene(name)
  assert got.shape == expected.shape
  bad = np.max(np.abs(got - expected), axis=-1) > 0.01
  assert bad.mean() <= 0.001, f'{bad.sum()} pixels ({bad.mean():.4%}) differ by more than 0.01'
  # The comparison is not vacuous: the scene covers a real part of the image.
  assert (np.abs(expected[..., :3]).sum(-1) > 0).mean() > 0.05


# --- documented conventions --------------------------------------------------------------------------

def _ndc_to_clip(ndc_xyz: np.ndarray, w: np.ndarray) -> np.ndarray:
  return np.concatenate([ndc_xyz * w[:, None], w[:, None]], -1).astype(np.float32)


def test_row_zero_is_top_and_pixel_centres_are_sampled() -> None:
  # A triangle covering only the upper-left quadrant of NDC (x < 0, y > 0) on a 4x4 image.
  clip = np.array([[-1, 1, 0, 1], [0.01, 1, 0, 1], [-1, -0.01, 0, 1]], np.float32)
  ids = tf_ops.rasterize(clip, [[0, 1, 2]], (4, 4)).triangle_ids.numpy()
  # Pixel centres are at NDC +-0.25/+-0.75; covered: (x + 1) + (1 - y) <= 1.01, top rows first.
  expected = np.array([[0, 0, -1, -1], [0, -1, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, -1]])
  np.testing.assert_array_equal(ids, expected)


@pytest.mark.parametrize('order', [(0, 1), (1, 0)])
def test_overlapping_triangles_resolve_by_depth(order: tuple[int, int]) -> None:
  # A flat triangle and a tilted one crossing it: the tilted one is nearer on the left, farther on the
  # right. Wherever both cover a pixel, the smaller depth must win, whatever the drawing order.
  flat = np.array([[-0.9, -0.9, 0.0], [0.9, -0.9, 0.0], [0.0, 0.9, 0.0]])
  tilted = np.array([[-0.9, -0.8, -0.5], [0.9, -0.8, 0.5], [0.0, 0.8, 0.0]])
  meshes = [flat, tilted]
  ndc = np.concatenate([meshes[order[0]], meshes[order[1]]])
  clip = _ndc_to_clip(ndc, np.array([1.0, 2.0, 1.5, 0.7, 1.2, 3.0]))
  tris = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
  out = tf_ops.rasterize(clip, tris, (32, 32))
  alone = [tf_ops.rasterize(clip, tris[k:k + 1], (32, 32)) for k in range(2)]
  depth_alone = np.stack([np.where(a.triangle_ids.numpy() == 0, a.depth.numpy(), np.inf) for a in alone])
  both = np.all(np.isfinite(depth_alone), axis=0)
  finite_depth = np.where(both, depth_alone, 0.0)
  clear = both & (np.abs(finite_depth[0] - finite_depth[1]) > 1e-4)
  ids = out.triangle_ids.numpy()
  np.testing.assert_array_equal(ids[clear], np.argmin(depth_alone, axis=0)[clear])
  np.testing.assert_array_equal(out.depth.numpy()[both], depth_alone.min(axis=0)[both])
  # Each triangle wins somewhere in the overlap, so drawing order alone could not pass.
  assert set(np.unique(ids[clear])) == {0, 1}
  check_against_reference(out, numpy_reference.rasterize(clip, tris, 32, 32))


def test_equal_depth_ties_go_to_lower_triangle_id() -> None:
  # Two copies of one triangle (distinct vertices, equal coordinates) and a farther triangle: the
  # lower-id copy wins every covered pixel, in either storage order.
  ndc = np.array([[-0.8, -0.8, 0.2], [0.8, -0.8, 0.2], [0.0, 0.8, 0.2]])
  copy = _ndc_to_clip(ndc, np.array([1.0, 2.0, 0.5]))
  farther = _ndc_to_clip(ndc + [0, 0, 0.3], np.ones(3))
  clip = np.concatenate([copy, farther, copy])
  first, far, second = [0, 1, 2], [3, 4, 5], [6, 7, 8]
  for tris, winner in [([first, far, second], 0), ([far, second, first], 1), ([second, first, far], 0)]:
    ids = tf_ops.rasterize(clip, np.array(tris, np.int32), (16, 16)).triangle_ids.numpy()
    assert np.mean(ids == winner) > 0.2
    assert set(np.unique(ids)) == {-1, winner}


def test_shared_diagonal_is_watertight_and_ties_go_to_lower_id() -> None:
  # Full-screen quad split along the diagonal that passes exactly through the pixel centres (ix, ix).
  n = 8
  clip = np.array([[-1, 1, 0, 1], [1, 1, 0, 1], [1, -1, 0, 1], [-1, -1, 0, 1]], np.float32)
  tris = np.array([[0, 2, 3], [0, 1, 2]], np.int32)  # id 0 below-left, id 1 above-right
  ids = tf_ops.rasterize(clip, tris, (n, n)).triangle_ids.numpy()
  assert np.all(ids >= 0), 'crack along the shared edge'
  np.testing.assert_array_equal(np.diag(ids), np.zeros(n))
  iy, ix = np.indices((n, n))
  assert np.all(ids[ix > iy] == 1) and np.all(ids[ix < iy] == 0)


def test_near_and_far_fragments_are_discarded() -> None:
  # NDC depth runs from -1.5 (left) to 1.5 (right): only the middle part with |z/w| <= 1 is drawn.
  ndc = np.array([[-1.0, -1.0, -1.5], [1.0, -1.0, 1.5], [1.0, 1.0, 1.5], [-1.0, 1.0, -1.5]])
  clip = _ndc_to_clip(ndc, np.array([1.0, 1.0, 1.0, 1.0]))
  out = tf_ops.rasterize(clip, [[0, 1, 2], [0, 2, 3]], (4, 16))
  cols = (np.arange(16) + 0.5) * 2 / 16 - 1
  z = 1.5 * cols
  ids = out.triangle_ids.numpy()
  np.testing.assert_array_equal(ids[0] >= 0, np.abs(z) <= 1)
  depth = out.depth.numpy()
  inside = np.abs(z) <= 1
  assert 0 < inside.sum() < 16
  np.testing.assert_allclose(depth[:, inside], np.broadcast_to(z[inside], (4, inside.sum())), atol=1e-6)
  assert np.all(depth[ids < 0] == 1.0)


def test_both_windings_are_rasterized() -> None:
  clip = np.array([[-0.8, -0.8, 0, 1], [0.8, -0.8, 0, 1], [0, 0.8, 0, 1]], np.float32)
  ccw = tf_ops.rasterize(clip, [[0, 1, 2]], (16, 16))
  cw = tf_ops.rasterize(clip, [[0, 2, 1]], (16, 16))
  np.testing.assert_array_equal(ccw.triangle_ids.numpy(), cw.triangle_ids.numpy())
  assert np.any(ccw.triangle_ids.numpy() == 0)
  np.testing.assert_allclose(ccw.barycentrics.numpy()[..., [0, 2, 1]], cw.barycentrics.numpy(),
                             atol=1e-6)


def _affine_barycentrics(clip: np.ndarray, height: int, width: int) -> np.ndarray:
  """Screen-space (not perspective-corrected) barycentrics of every pixel centre, float64."""
  ndc = clip[:, :2].astype(np.float64) / clip[:, 3:4]
  px = (np.arange(width) + 0.5) * 2 / width - 1
  py = 1 - (np.arange(height) + 0.5) * 2 / height
  x, y = np.meshgrid(px, py)
  (x0, y0), (x1, y1), (x2, y2) = ndc
  area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
  l0 = ((x1 - x) * (y2 - y) - (x2 - x) * (y1 - y)) / area
  l1 = ((x2 - x) * (y0 - y) - (x0 - x) * (y2 - y)) / area
  return np.stack([l0, l1, 1 - l0 - l1], -1)


def test_barycentrics_are_perspective_correct_where_w_differs() -> None:
  ndc = np.array([[-0.9, -0.9, 0.0], [0.9, -0.9, 0.0], [0.0, 0.9, 0.0]])
  clip = _ndc_to_clip(ndc, np.array([0.5, 1.0, 4.0]))
  out = tf_ops.rasterize(clip, [[0, 1, 2]], (24, 24))
  covered = out.triangle_ids.numpy() == 0
  affine = _affine_barycentrics(clip, 24, 24)
  bary = out.barycentrics.numpy()
  # Clearly different from affine interpolation...
  assert np.max(np.abs(bary - affine)[covered]) > 0.1
  # ...and equal to the perspective-correct formula b_i ~ l_i / w_i.
  p = affine / clip[:, 3].astype(np.float64)
  p /= p.sum(-1, keepdims=True)
  np.testing.assert_allclose(bary[covered], p[covered], atol=1e-5)
  np.testing.assert_allclose(bary[covered].sum(-1), 1.0, atol=1e-5)


def test_barycentrics_equal_affine_ones_where_w_is_equal() -> None:
  ndc = np.array([[-0.9, -0.9, -0.3], [0.9, -0.9, 0.1], [0.0, 0.9, 0.5]])
  clip = _ndc_to_clip(ndc, np.array([2.5, 2.5, 2.5]))
  out = tf_ops.rasterize(clip, [[0, 1, 2]], (24, 24))
  covered = out.triangle_ids.numpy() == 0
  assert covered.mean() > 0.3
  affine = _affine_barycentrics(clip, 24, 24)
  np.testing.assert_allclose(out.barycentrics.numpy()[covered], affine[covered], atol=1e-5)
  # Depth is the affine interpolation of NDC z.
  np.testing.assert_allclose(out.depth.numpy()[covered], (affine @ ndc[:, 2])[covered], atol=1e-5)


def test_background_is_id_minus_one_zero_barycentrics_depth_one() -> None:
  clip = np.array([[-0.2, -0.2, 0.5, 1], [0.2, -0.2, 0.5, 1], [0, 0.2, 0.5, 1]], np.float32)
  out = tf_ops.rasterize(clip, [[0, 1, 2]], (16, 16))
  background = out.triangle_ids.numpy() == -1
  assert background.mean() > 0.5 and not background.all()
  assert np.all(out.barycentrics.numpy()[background] == 0)
  assert np.all(out.depth.numpy()[background] == 1)


def test_eager_equals_tf_function() -> None:
  rng = np.random.default_rng(7)
  clip, tris = random_mesh(rng, batch=2, num_vertices=20, num_triangles=10, height=20, width=24)
  attrs = rng.normal(size=(20, 3)).astype(np.float32)

  def render(c: tf.Tensor) -> tuple[tf.Tensor, ...]:
    out = tf_ops.rasterize(c, tris, (20, 24))
    return (*out, tf_ops.interpolate(attrs, out.triangle_ids, out.barycentrics, tris))

  eager = render(tf.constant(clip))
  graph = tf.function(render)(tf.constant(clip))
  for e, g in zip(eager, graph):
    np.testing.assert_array_equal(e.numpy(), g.numpy())
  assert np.any(eager[0].numpy() >= 0)


def test_batch_equals_items_rendered_one_by_one() -> None:
  rng = np.random.default_rng(3)
  clip, tris = random_mesh(rng, batch=4, num_vertices=20, num_triangles=12, height=18, width=22)
  batched = tf_ops.rasterize(clip, tris, (18, 22))
  for b in range(4):
    single = tf_ops.rasterize(clip[b:b + 1], tris, (18, 22))
    for part_b, part_1 in zip(batched, single):
      np.testing.assert_array_equal(part_b.numpy()[b], part_1.numpy()[0])
  # The items really differ, so a batch that repeated item 0 would fail.
  assert np.any(batched.triangle_ids.numpy()[0] != batched.triangle_ids.numpy()[1])


def test_unbatched_input_gives_unbatched_output() -> None:
  rng = np.random.default_rng(5)
  clip, tris = random_mesh(rng, batch=1, num_vertices=12, num_triangles=6, height=10, width=14)
  single = tf_ops.rasterize(clip[0], tris, (10, 14))
  batched = tf_ops.rasterize(clip, tris, (10, 14))
  assert single.triangle_ids.shape == (10, 14)
  assert single.barycentrics.shape == (10, 14, 3)
  assert single.depth.shape == (10, 14)
  for s, b in zip(single, batched):
    np.testing.assert_array_equal(s.numpy(), b.numpy()[0])
  colors = tf_ops.interpolate(np.ones((12, 2), np.float32), single.triangle_ids, single.barycentrics,
                              tris)
  assert colors.shape == (10, 14, 2)
  np.testing.assert_allclose(colors.numpy()[single.triangle_ids.numpy() >= 0], 1.0, atol=1e-5)
