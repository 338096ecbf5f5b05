"""Bad input never crashes the process: it raises InvalidArgumentError or gives the documented result.

The fuzz test and the graph-mode image-size test run the op in a subprocess, so that an abort or a
segfault in the kernel is a test failure rather than a dead pytest. Run the fuzzer by hand with
`python -m tests.tf_ops.test_rasterize_bad_input --fuzz SEED COUNT`.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

import tf_ops
from tests.tf_ops import numpy_reference
from tf_ops import _loader

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
InvalidArgumentError = tf.errors.InvalidArgumentError
MAX = tf_ops.MAX_IMAGE_SIZE

# A valid mesh: two triangles not sharing vertices, both on screen.
VERTICES = np.array([[-0.8, -0.8, 0.1, 1], [0.0, -0.8, 0.1, 1], [-0.4, 0.0, 0.1, 1],
                     [0.1, 0.1, 0.2, 1.5], [0.9, 0.1, 0.2, 1.5], [0.5, 0.9, 0.2, 1.5]], np.float32)
TRIANGLES = np.array([[0, 1, 2], [3, 4, 5]], np.int32)


def run_in_subprocess(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(REPO_ROOT))
  return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _assert_same(a: tf_ops.RasterOutput, b: tf_ops.RasterOutput) -> None:
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.numpy(), y.numpy())


# --- wrong ranks, shapes and dtypes --------------------------------------------------------------------

@pytest.mark.parametrize('shape', [[], [4], [1, 1, 6, 4], [6, 3], [2, 6, 5], [1, 6, 0]])
def test_vertices_of_wrong_rank_or_shape_raise_invalid_argument(shape: list[int]) -> None:
  with pytest.raises(InvalidArgumentError):
    tf_ops.rasterize(tf.zeros(shape), tf.zeros([0, 3], tf.int32), (4, 4))


@pytest.mark.parametrize('shape', [[], [3], [1, 4], [2, 2], [1, 3, 1]])
def test_triangles_of_wrong_rank_or_shape_raise_invalid_argument(shape: list[int]) -> None:
  with pytest.raises(InvalidArgumentError):
    tf_ops.rasterize(VERTICES, tf.zeros(shape, tf.int32), (4, 4))


@pytest.mark.parametrize('dtype', [tf.int16, tf.uint8, tf.uint32, tf.float32, tf.float64])
def test_index_dtypes_other_than_int32_and_int64_raise_invalid_argument(dtype: tf.DType) -> None:
  out = tf_ops.rasterize(VERTICES, TRIANGLES, (4, 4))
  attrs = np.ones([6, 1], np.float32)
  with pytest.raises(InvalidArgumentError, match='int32 or int64'):
    tf_ops.rasterize(VERTICES, tf.cast(TRIANGLES, dtype), (4, 4))
  with pytest.raises(InvalidArgumentError, match='int32 or int64'):
    tf_ops.interpolate(attrs, out.triangle_ids, out.barycentrics, tf.cast(TRIANGLES, dtype))
  with pytest.raises(InvalidArgumentError, match='int32 or int64'):
    tf_ops.interpolate(attrs, tf.cast(out.triangle_ids, dtype), out.barycentrics, TRIANGLES)


def test_int64_indices_give_the_same_result_as_int32() -> None:
  ref = tf_ops.rasterize(VERTICES, TRIANGLES, (8, 8))
  wide = tf_ops.rasterize(VERTICES, TRIANGLES.astype(np.int64), (8, 8))
  _assert_same(ref, wide)
  assert (ref.triangle_ids.numpy() >= 0).sum() > 4
  attrs = np.arange(12, dtype=np.float32).reshape(6, 2)
  expected = tf_ops.interpolate(attrs, ref.triangle_ids, ref.barycentrics, TRIANGLES).numpy()
  got = tf_ops.interpolate(attrs, tf.cast(ref.triangle_ids, tf.int64), ref.barycentrics,
                           TRIANGLES.astype(np.int64)).numpy()
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize('value', [2**32 + 2, 2**32, 2**31, -2**32, -2**31 - 1])
def test_int64_indices_outside_int32_raise_instead_of_wrapping(value: int) -> None:
  # Narrowed to int32 these would wrap to small valid indices (2**32 + 2 -> 2): the op checks first.
  tris = TRIANGLES.astype(np.int64)
  tris[0, 2] = value
  ops = _loader.ops()
  for call in (lambda: tf_ops.rasterize(VERTICES, tris, (4, 4)),
               lambda: tf_ops.rasterize(VERTICES, tris.tolist(), (4, 4)),
               lambda: ops.rasterize_triangles(VERTICES[None], tris, image_height=4, image_width=4),
               lambda: ops.rasterize_triangles(VERTICES[None], tris.tolist(), image_height=4,
                                               image_width=4)):
    with pytest.raises(InvalidArgumentError, match='outside'):
      call()
  out = tf_ops.rasterize(VERTICES, TRIANGLES, (4, 4))
  ids = out.triangle_ids.numpy().astype(np.int64)
  ids[0, 0] = value
  with pytest.raises(InvalidArgumentError, match='outside'):
    tf_ops.interpolate(np.ones([6, 2], np.float32), ids, out.barycentrics, TRIANGLES)
  with pytest.raises(InvalidArgumentError, match='outside'):
    tf_ops.interpolate(np.ones([6, 2], np.float32), out.triangle_ids, out.barycentrics, tris)


@pytest.mark.parametrize('ids', [[[0.0]], [[0.5]], np.zeros([1, 1], np.float32), np.zeros([1, 1])])
def test_float_triangle_ids_raise_instead_of_truncating(ids) -> None:
  with pytest.raises(InvalidArgumentError, match='int32 or int64'):
    tf_ops.interpolate(np.ones([6, 2], np.float32), ids, np.full([1, 1, 3], 1 / 3, np.float32),
                       TRIANGLES)


@pytest.mark.parametrize('argument', ['attributes', 'barycentrics'])
@pytest.mark.parametrize('dtype', [np.float64, np.float16, np.int32])
def test_interpolate_float_inputs_of_other_dtypes_raise_like_rasterize(argument: str, dtype) -> None:
  out = tf_ops.rasterize(VERTICES, TRIANGLES, (4, 4))
  args = {'attributes': np.ones([6, 2], np.float32), 'barycentrics': out.barycentrics.numpy()}
  for convert in (np.asarray, tf.constant):  # numpy arrays and tensors alike
    bad = dict(args, **{argument: convert(args[argument].astype(dtype))})
    with pytest.raises(InvalidArgumentError, match='float32'):
      tf_ops.interpolate(bad['attributes'], out.triangle_ids, bad['barycentrics'], TRIANGLES)


def test_python_lists_are_accepted_for_every_input() -> None:
  out = tf_ops.rasterize(VERTICES.tolist(), TRIANGLES.tolist(), [8, 8])
  _assert_same(out, tf_ops.rasterize(VERTICES, TRIANGLES, (8, 8)))
  colors = tf_ops.interpolate([[1.0]] * 6, out.triangle_ids.numpy().tolist(),
                              out.barycentrics.numpy().tolist(), TRIANGLES.tolist())
  np.testing.assert_allclose(colors.numpy()[..., 0], (out.triangle_ids.numpy() >= 0), atol=1e-6)


@pytest.mark.parametrize('dtype', [tf.float64, tf.float16, tf.bfloat16, tf.int32])
def test_non_float32_vertices_raise_invalid_argument(dtype: tf.DType) -> None:
  with pytest.raises(InvalidArgumentError, match='float32'):
    tf_ops.rasterize(tf.cast(VERTICES, dtype), TRIANGLES, (4, 4))


def test_static_rank_errors_in_tf_function_raise_invalid_argument_at_trace() -> None:
  # The Python API checks static ranks itself: the same error type as eagerly (not TF's ValueError).
  fn = tf.function(lambda v: tf_ops.rasterize(v, TRIANGLES, (4, 4)))
  with pytest.raises(InvalidArgumentError, match='rank|shape'):
    fn(tf.zeros([4]))
  # Unknown static shape: the kernel check fires when the graph runs.
  dynamic = tf.function(lambda v: tf_ops.rasterize(v, TRIANGLES, (4, 4)),
                        input_signature=[tf.TensorSpec(None, tf.float32)])
  with pytest.raises(InvalidArgumentError):
    dynamic(tf.zeros([1, 6, 3]))
  with pytest.raises(InvalidArgumentError):
    dynamic(tf.zeros([6]))


# --- graph mode with unknown shapes behaves like eager -------------------------------------------------

UNKNOWN = tf.TensorSpec(None, tf.float32)


def test_unknown_rank_graph_accepts_unbatched_and_batched_vertices_like_eager() -> None:
  fn = tf.function(lambda v: tf_ops.rasterize(v, TRIANGLES, (8, 8)), input_signature=[UNKNOWN])
  for vertices in (VERTICES, VERTICES[None].repeat(2, 0)):
    graph, eager = fn(tf.constant(vertices)), tf_ops.rasterize(vertices, TRIANGLES, (8, 8))
    assert graph.triangle_ids.shape == eager.triangle_ids.shape
    _assert_same(graph, eager)


def test_unknown_rank_graph_interpolates_unbatched_ids_and_shared_attributes_like_eager() -> None:
  out = tf_ops.rasterize(VERTICES, TRIANGLES, (8, 8))
  attrs = np.arange(12, dtype=np.float32).reshape(6, 2)
  fn = tf.function(lambda a, i, b: tf_ops.interpolate(a, i, b, TRIANGLES),
                   input_signature=[UNKNOWN, tf.TensorSpec(None, tf.int32), UNKNOWN])
  for ids, bary, a in [(out.triangle_ids, out.barycentrics, attrs),
                       (out.triangle_ids[None], out.barycentrics[None], attrs),
                       (out.triangle_ids[None], out.barycentrics[None], attrs[None])]:
    eager = tf_ops.interpolate(a, ids, bary, TRIANGLES).numpy()
    graph = fn(a, ids, bary).numpy()
    assert graph.shape == eager.shape
    np.testing.assert_array_equal(graph, eager)


def test_unknown_rank_graph_gradient_matches_eager() -> None:
  def loss(v):
    return tf.reduce_sum(tf_ops.rasterize(v, TRIANGLES, (8, 8)).barycentrics * [0.3, -1.0, 2.0])
  def grad(v):
    with tf.GradientTape() as tape:
      tape.watch(v)
      value = loss(v)
    return tape.gradient(value, v)
  v = tf.constant(VERTICES)
  expected = grad(v).numpy()
  assert np.abs(expected).sum() > 0
  np.testing.assert_array_equal(tf.function(grad, input_signature=[UNKNOWN])(v).numpy(), expected)


# --- out-of-range indices ------------------------------------------------------------------------------

@pytest.mark.parametrize('bad_index', [-1, 6, 7, 2**31 - 1, -2**31])
def test_out_of_range_triangle_indices_raise_invalid_argument(bad_index: int) -> None:
  tris = TRIANGLES.copy()
  tris[1, 2] = bad_index
  with pytest.raises(InvalidArgumentError):
    tf_ops.rasterize(VERTICES, tris, (8, 8))
  out = tf_ops.rasterize(VERTICES, TRIANGLES, (8, 8))
  with pytest.raises(InvalidArgumentError):
    tf_ops.interpolate(np.ones([6, 2], np.float32), out.triangle_ids, out.barycentrics, tris)


def test_out_of_range_indices_in_graph_raise_when_run() -> None:
  fn = tf.function(lambda t: tf_ops.rasterize(VERTICES, t, (4, 4)).triangle_ids)
  with pytest.raises(InvalidArgumentError):
    fn(tf.constant([[0, 1, 6]]))


# --- non-finite and behind-camera vertices -------------------------------------------------------------

def _render(vertices: np.ndarray, tris: np.ndarray = TRIANGLES) -> tf_ops.RasterOutput:
  return tf_ops.rasterize(vertices, tris, (16, 16))


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('coordinate', [0, 1, 2, 3])
def test_non_finite_vertex_makes_its_triangle_cover_nothing(value: float, coordinate: int) -> None:
  clean = _render(VERTICES)
  assert np.any(clean.triangle_ids.numpy() == 1)
  bad = VERTICES.copy()
  bad[4, coordinate] = value  # vertex of triangle 1 only
  out = _render(bad)
  ids = out.triangle_ids.numpy()
  assert not np.any(ids == 1)
  # Triangle 0 is untouched and renders exactly as before; everything stays finite.
  np.testing.assert_array_equal(ids == 0, clean.triangle_ids.numpy() == 0)
  assert np.all(np.isfinite(out.barycentrics.numpy())) and np.all(np.isfinite(out.depth.numpy()))
  only_first = _render(VERTICES, TRIANGLES[:1])
  _assert_same(out, only_first)


@pytest.mark.parametrize('w', [0.0, -0.0, -1.0, -1e-30])
def test_vertex_at_or_behind_camera_skips_its_triangle(w: float) -> None:
  bad = VERTICES.copy()
  # Scale the whole vertex so that x/w, y/w, z/w stay inside the view volume: only w's sign is wrong.
  bad[4] = bad[4] / bad[4, 3] * w if w != 0 else np.array([0.0, 0.0, 0.0, w], np.float32)
  _assert_same(_render(bad), _render(VERTICES, TRIANGLES[:1]))


def test_all_vertices_behind_camera_render_background() -> None:
  # Negating every coordinate keeps each NDC position but puts the mesh behind the camera.
  out = _render(-VERTICES)
  assert np.all(out.triangle_ids.numpy() == -1)


@pytest.mark.parametrize('value', [1e38, -1e38, 3e38, 1e-45, 1e-38])
def test_extreme_finite_coordinates_give_valid_output(value: float) -> None:
  bad = VERTICES.copy()
  bad[4, 0] = value
  bad[5, 3] = value if value > 0 else 1.0
  out = _render(bad)
  ids = out.triangle_ids.numpy()
  assert np.all((ids >= -1) & (ids < 2))
  assert np.all(np.isfinite(out.barycentrics.numpy()))
  depth = out.depth.numpy()
  assert np.all((depth >= -1) & (depth <= 1))
  # Triangle 0 is unaffected.
  np.testing.assert_array_equal(ids == 0, _render(VERTICES).triangle_ids.numpy() == 0)


@pytest.mark.parametrize('scale', [1e10, 1e20, 1e30])
def test_huge_clip_scale_gives_finite_perspective_correct_barycentrics(scale: float) -> None:
  # Scaling a clip vertex by s keeps its NDC position but makes its w huge: the coverage is unchanged
  # and its perspective weight (l_i / w_i) vanishes. Products of such coordinates overflow float32.
  clip = np.array([[-0.5, -0.5, 0, 1], [0.5, -0.5, 0, 1], [0, 0.5, 0, 1]], np.float32)
  clip[:2] *= np.float32(scale)
  out = tf_ops.rasterize(clip, [[0, 1, 2]], (8, 8))
  ref = numpy_reference.rasterize(clip, [[0, 1, 2]], 8, 8)
  covered = ref.triangle_ids == 0
  assert covered.sum() >= 6
  np.testing.assert_array_equal(out.triangle_ids.numpy(), ref.triangle_ids)
  np.testing.assert_allclose(out.barycentrics.numpy()[covered], ref.barycentrics[covered], atol=1e-5)


def test_degenerate_triangles_cover_nothing() -> None:
  collinear = np.array([[-0.5, -0.5, 0, 1], [0, 0, 0, 1], [0.5, 0.5, 0, 1]], np.float32)
  tris = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 2], [2, 1, 0]], np.int32)
  out = tf_ops.rasterize(collinear, tris, (16, 16))
  assert np.all(out.triangle_ids.numpy() == -1)


# --- empty meshes --------------------------------------------------------------------------------------

def _assert_background(out: tf_ops.RasterOutput, shape: tuple[int, ...]) -> None:
  assert out.triangle_ids.shape == shape and out.depth.shape == shape
  assert out.barycentrics.shape == (*shape, 3)
  assert np.all(out.triangle_ids.numpy() == -1)
  assert np.all(out.barycentrics.numpy() == 0)
  assert np.all(out.depth.numpy() == 1)


def test_no_triangles_renders_background() -> None:
  _assert_background(tf_ops.rasterize(VERTICES, np.zeros([0, 3], np.int32), (5, 7)), (5, 7))
  _assert_background(tf_ops.rasterize(VERTICES[None].repeat(2, 0), np.zeros([0, 3], np.int32), (5, 7)),
                     (2, 5, 7))


def test_no_vertices_and_no_triangles_renders_background() -> None:
  _assert_background(tf_ops.rasterize(np.zeros([0, 4], np.float32), np.zeros([0, 3], np.int32), (3, 2)),
                     (3, 2))


def test_no_vertices_with_triangles_raises_invalid_argument() -> None:
  with pytest.raises(InvalidArgumentError):
    tf_ops.rasterize(np.zeros([0, 4], np.float32), [[0, 0, 0]], (3, 2))


def test_empty_batch_gives_empty_outputs() -> None:
  out = tf_ops.rasterize(np.zeros([0, 6, 4], np.float32), TRIANGLES, (3, 2))
  assert out.triangle_ids.shape == (0, 3, 2) and out.barycentrics.shape == (0, 3, 2, 3)
  colors = tf_ops.interpolate(np.zeros([0, 6, 2], np.float32), out.triangle_ids, out.barycentrics,
                              TRIANGLES)
  assert colors.shape == (0, 3, 2, 2)


def test_empty_mesh_gradient_is_zero() -> None:
  v = tf.constant(VERTICES)
  with tf.GradientTape() as tape:
    tape.watch(v)
    loss = tf.reduce_sum(tf_ops.rasterize(v, np.zeros([0, 3], np.int32), (4, 4)).barycentrics)
  np.testing.assert_array_equal(tape.gradient(loss, v).numpy(), np.zeros_like(VERTICES))


# --- image sizes ---------------------------------------------------------------------------------------

BAD_SIZES = [(0, 4), (4, 0), (-1, 4), (4, -7), (MAX + 1, 4), (4, MAX + 1), (2**40, 1), (0, 0)]


@pytest.mark.parametrize('size', BAD_SIZES)
def test_bad_image_size_raises_invalid_argument(size: tuple[int, int]) -> None:
  with pytest.raises(InvalidArgumentError):
    tf_ops.rasterize(VERTICES, TRIANGLES, size)


@pytest.mark.parametrize('size', [(np.nan, 4), (4, np.inf), (-np.inf, 4), None, 4, (4,), (4, 4, 4), '44',
                                  (2.5, 4), (True, 4), (4, None), ('4', '4'), (4, 1e300)])
def test_malformed_image_size_raises_invalid_argument(size) -> None:
  # One error type for every bad argument (not ValueError, OverflowError or TypeError).
  with pytest.raises(InvalidArgumentError, match='image_size'):
    tf_ops.rasterize(VERTICES, TRIANGLES, size)


def test_integral_image_size_of_any_numeric_type_is_accepted() -> None:
  ref = tf_ops.rasterize(VERTICES, TRIANGLES, (6, 5))
  for size in [(6.0, 5.0), np.array([6, 5]), (np.int64(6), np.uint8(5)), [6, 5]]:
    _assert_same(tf_ops.rasterize(VERTICES, TRIANGLES, size), ref)


def test_largest_image_side_is_accepted() -> None:
  for size in [(1, MAX), (MAX, 1)]:
    out = tf_ops.rasterize(VERTICES, TRIANGLES, size)
    assert out.triangle_ids.shape == size


def test_bad_image_size_in_tf_function_raises_instead_of_aborting() -> None:
  # Graph mode runs the op's shape function at trace time, with the bad size: it must not CHECK-fail.
  # Both through the wrapper and on the raw op (whose shape function sees the attrs unchecked).
  result = run_in_subprocess(f'''
    import tensorflow as tf, tf_ops
    from tf_ops import _loader
    raw = lambda size: _loader.ops().rasterize_triangles(
        tf.zeros([1, 3, 4]), [[0, 1, 2]], image_height=size[0], image_width=size[1])[2]
    wrapped = lambda size: tf_ops.rasterize(tf.zeros([1, 3, 4]), [[0, 1, 2]], size).depth
    for size in [(0, 4), (-3, 4), (4, -7), ({MAX} + 1, 4)]:
      for render in (raw, wrapped):
        try:
          tf.function(lambda: render(size))()
          raise SystemExit(f'no error for {{size}}')
        except (tf.errors.InvalidArgumentError, ValueError):
          pass
    print('all raised')
  ''')
  assert result.returncode == 0 and 'all raised' in result.stdout, result.stderr[-3000:]


# --- interpolate and the raw gradient ops --------------------------------------------------------------

def _rendered() -> tf_ops.RasterOutput:
  return tf_ops.rasterize(VERTICES[None].repeat(2, 0), TRIANGLES, (6, 5))


@pytest.mark.parametrize('case', ['bary_shape', 'bary_channels', 'batch', 'attr_rank1', 'attr_rank4',
                                  'few_vertices', 'id_too_large', 'id_below_minus_one', 'ids_rank1'])
def test_interpolate_with_mismatched_inputs_raises_invalid_argument(case: str) -> None:
  out = _rendered()
  attrs = np.ones([2, 6, 3], np.float32)
  ids, bary = out.triangle_ids.numpy(), out.barycentrics.numpy()
  if case == 'bary_shape':
    bary = bary[:, :, :4]
  elif case == 'bary_channels':
    bary = bary[..., :2]
  elif case == 'batch':
    attrs = np.ones([3, 6, 3], np.float32)
  elif case == 'attr_rank1':
    attrs = np.ones([6], np.float32)
  elif case == 'attr_rank4':
    attrs = np.ones([2, 6, 3, 1], np.float32)
  elif case == 'few_vertices':
    attrs = np.ones([2, 5, 3], np.float32)
  elif case == 'id_too_large':
    ids = ids.copy()
    ids[1, 2, 2] = 2
  elif case == 'id_below_minus_one':
    ids = ids.copy()
    ids[0, 0, 0] = -2
  elif case == 'ids_rank1':
    ids, bary = ids.reshape(-1), bary.reshape(-1, 3)
  with pytest.raises(InvalidArgumentError):
    tf_ops.interpolate(attrs, ids, bary, TRIANGLES)


def _raw_raster_grad(vertices, tris, ids, bary, grad_bary, height: int, width: int) -> tf.Tensor:
  return _loader.ops().rasterize_triangles_grad(
      clip_vertices=vertices, triangles=tris, triangle_ids=ids, barycentrics=bary,
      grad_barycentrics=grad_bary, image_height=height, image_width=width)


def test_raw_gradient_ops_reject_bad_ids_and_shapes() -> None:
  out = _rendered()
  v = np.repeat(VERTICES[None], 2, 0)
  ids, bary = out.triangle_ids.numpy(), out.barycentrics.numpy()
  bad_ids = ids.copy()
  bad_ids[0, 0, 0] = 7
  assert _raw_raster_grad(v, TRIANGLES, ids, bary, bary, 6, 5).shape == v.shape  # the valid call
  for args in [(v, TRIANGLES, bad_ids, bary, bary), (v, TRIANGLES, ids, bary, bary[:, :, :2]),
               (v, TRIANGLES, ids[:1], bary[:1], bary[:1]), (v[..., :3], TRIANGLES, ids, bary, bary),
               (v, TRIANGLES, ids, bary[..., :2], bary)]:
    with pytest.raises(InvalidArgumentError):
      _raw_raster_grad(*args, 6, 5)
  with pytest.raises(InvalidArgumentError):  # ids rendered at another size
    _raw_raster_grad(v, TRIANGLES, ids, bary, bary, 5, 6)
  ops = _loader.ops()
  attrs = np.ones([2, 6, 3], np.float32)
  with pytest.raises(InvalidArgumentError):
    ops.interpolate_attributes_grad(attrs, ids, bary, TRIANGLES, np.ones([2, 6, 5, 2], np.float32))
  with pytest.raises(InvalidArgumentError):
    ops.interpolate_attributes_grad(attrs, bad_ids, bary, TRIANGLES, np.ones([2, 6, 5, 3], np.float32))


# --- sizes near 2**31 and running out of memory (in a subprocess: a regression would crash) ----------

def test_sizes_beyond_int32_raise_and_empty_sizes_near_it_work() -> None:
  # Interpolating [1, 0, 2**31] attributes once narrowed the channel count to a negative int32 and
  # crashed in memset. Every size is checked before it is narrowed; zero-element tensors whose other
  # sides are near 2**31 are valid and give empty outputs.
  result = run_in_subprocess('''
    import numpy as np, tensorflow as tf, tf_ops
    no_triangles = np.zeros([0, 3], np.int32)
    def raises(fn):
      try:
        fn()
      except tf.errors.InvalidArgumentError:
        return True
      return False
    assert raises(lambda: tf_ops.interpolate(tf.zeros([1, 0, 2**31]), [[[-1]]], tf.zeros([1, 1, 1, 3]),
                                             no_triangles))
    assert raises(lambda: tf_ops.interpolate(tf.zeros([1, 0, 2**33]), [[[-1]]], tf.zeros([1, 1, 1, 3]),
                                             no_triangles))
    assert raises(lambda: tf_ops.rasterize(tf.zeros([2**31, 0, 4]), no_triangles, (2, 2)))
    assert raises(lambda: tf_ops.rasterize(tf.zeros([0, 2**30 + 1, 4]), no_triangles, (2, 2)))
    out = tf_ops.interpolate(tf.zeros([1, 0, 2**31 - 1]), tf.zeros([1, 0, 2**31], tf.int32),
                             tf.zeros([1, 0, 2**31, 3]), no_triangles)
    assert out.shape == (1, 0, 2**31, 2**31 - 1), out.shape
    out = tf_ops.rasterize(tf.zeros([0, 2**30, 4]), no_triangles, (1, 1))
    assert out.triangle_ids.shape == (0, 1, 1), out.triangle_ids.shape
    print('sizes ok')
  ''')
  assert result.returncode == 0 and 'sizes ok' in result.stdout, result.stderr[-3000:]


def test_kernel_out_of_memory_raises_resource_exhausted_instead_of_aborting() -> None:
  # Under an address-space limit that fits the outputs but not the kernel's per-pixel scratch, the
  # kernel's std::bad_alloc once escaped a worker thread and aborted the process.
  result = run_in_subprocess('''
    import resource, numpy as np, tensorflow as tf, tf_ops
    clip = np.array([[-1, -1, 0, 1], [3, -1, 0, 1], [-1, 3, 0, 1]], np.float32)
    tf_ops.rasterize(clip, [[0, 1, 2]], (4, 4))  # load the op, start the thread pools
    status = open('/proc/self/status').read().split('VmSize:')[1]
    side = 8192
    limit = int(status.split()[0]) * 1024 + side * side * 20 + 256 * 2**20  # outputs: 20 bytes/pixel
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
      tf_ops.rasterize(clip, [[0, 1, 2]], (side, side))
      print('no error')
    except tf.errors.ResourceExhaustedError as e:
      print('resource exhausted:', e.message)
  ''')
  assert result.returncode == 0, f'died ({result.returncode}): {result.stderr[-3000:]}'
  assert 'resource exhausted:' in result.stdout, result.stdout + result.stderr[-2000:]


# --- randomized fuzzing --------------------------------------------------------------------------------

FUZZ_CASES = 2000

_SPECIALS = np.array([np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e30, -1e30, 1e-45, -1e-45, 1e-38, 0.0,
                      -0.0, 1.0, -1.0, 1e-7], np.float32)


def _fuzz_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
  """Mostly moderate values, with NaN/Inf/huge/tiny/denormal ones sprinkled in at a random rate."""
  scale = 10.0 ** rng.integers(-3, 4)
  values = np.asarray(rng.normal(size=shape) * scale, np.float32).reshape(shape)
  rate = rng.choice([0.0, 0.02, 0.2, 1.0])
  mask = rng.random(shape) < rate
  values[mask] = rng.choice(_SPECIALS, size=int(mask.sum()))
  return values


def _fuzz_vertices(rng: np.random.Generator) -> np.ndarray:
  batch, count = int(rng.integers(0, 4)), int(rng.integers(0, 13))
  roll = rng.random()
  if roll < 0.8:
    shape = (batch, count, 4)
  elif roll < 0.9:
    shape = (count, 4)
  else:
    shape = tuple(int(d) for d in rng.integers(0, 6, size=rng.integers(0, 5)))
  values = _fuzz_values(rng, shape)
  if len(shape) >= 2 and shape[-1] == 4 and rng.random() < 0.7:
    # Plausible clip space: |x, y, z| <~ w, with some w <= 0.
    w = np.abs(values[..., 3:4]) + np.float32(rng.choice([0.0, 0.5, 1.0]))
    w[rng.random(w.shape) < 0.1] *= -1
    values = np.concatenate([np.clip(values[..., :3], -1e4, 1e4) * 1e-1 * w, w], -1)
  dtype_roll = rng.random()
  if dtype_roll < 0.05:
    return values.astype(np.float64)
  if dtype_roll < 0.08:
    return values.astype(np.float16)
  if dtype_roll < 0.1:
    return np.nan_to_num(values).clip(-1e6, 1e6).astype(np.int32)
  return values


def _fuzz_triangles(rng: np.random.Generator, num_vertices: int) -> np.ndarray:
  count = int(rng.integers(0, 16))
  roll = rng.random()
  shape = (count, 3) if roll < 0.85 else tuple(int(d) for d in rng.integers(0, 5, rng.integers(0, 4)))
  high = max(num_vertices, 1)
  tris = rng.integers(0, high, size=shape, dtype=np.int64)
  if rng.random() < 0.15 and tris.size:  # out of range, either side
    tris.flat[rng.integers(0, tris.size)] = rng.choice([-1, num_vertices, 2**31 - 1, -2**31, 1000])
  if rng.random() < 0.2 and len(shape) == 2 and shape[1] == 3 and count:  # degenerate: repeated index
    tris[:, 1] = tris[:, 0]
  dtype_roll = rng.random()
  if dtype_roll < 0.1:  # int64, sometimes holding values that int32 would wrap into valid ones
    if rng.random() < 0.5 and tris.size:
      tris.flat[rng.integers(0, tris.size)] = rng.choice([2**32, 2**32 + 1, 2**31, -2**32, 2**40])
    return tris.astype(np.int64)
  if dtype_roll < 0.13:
    return tris.astype(np.float32) + np.float32(rng.choice([0.0, 0.5]))
  if dtype_roll < 0.15:
    return tris.astype(rng.choice([np.uint8, np.int16, np.uint32]))
  return tris.astype(np.int32)


def _fuzz_size(rng: np.random.Generator) -> tuple[int, int]:
  def side() -> int:
    roll = rng.random()
    if roll < 0.9:
      return int(rng.integers(1, 65))
    return int(rng.choice([0, -1, -5, MAX + 1, 2**31, 2**40]))
  size = (side(), side())
  if rng.random() < 0.02:  # the largest side, with a tiny other one to stay fast
    size = (MAX, int(rng.integers(1, 3))) if rng.random() < 0.5 else (int(rng.integers(1, 3)), MAX)
  return size


def _check_raster(out: tf_ops.RasterOutput, vertices: np.ndarray, tris: np.ndarray,
                  size: tuple[int, int]) -> str | None:
  """Returns what is wrong with a successful rasterize result, or None."""
  ids, bary, depth = out.triangle_ids.numpy(), out.barycentrics.numpy(), out.depth.numpy()
  expected = (*((vertices.shape[0],) if vertices.ndim == 3 else ()), *size)
  if ids.shape != expected or depth.shape != expected or bary.shape != (*expected, 3):
    return f'shapes {ids.shape} {bary.shape} {depth.shape}, expected {expected}'
  if ids.dtype != np.int32 or np.any(ids < -1) or np.any(ids >= tris.shape[0]):
    return f'ids out of [-1, {tris.shape[0]}): {np.unique(ids)[:10]}'
  if not np.all(np.isfinite(bary)) or not np.all(np.isfinite(depth)):
    return 'non-finite barycentrics or depth'
  if np.any(depth < -1) or np.any(depth > 1):
    return f'depth outside [-1, 1]: {depth.min()} {depth.max()}'
  background = ids < 0
  if np.any(bary[background] != 0) or np.any(depth[background] != 1):
    return 'background pixel with non-zero barycentrics or depth != 1'
  # Documented: a triangle with a non-finite vertex or w <= 0 covers nothing.
  batch_vertices = vertices if vertices.ndim == 3 else vertices[None]
  batch_ids = ids if ids.ndim == 3 else ids[None]
  for b in range(batch_ids.shape[0]):
    visible = np.unique(batch_ids[b][batch_ids[b] >= 0])
    corners = batch_vertices[b][tris[visible]]  # [n, 3, 4]
    if np.any(~np.isfinite(corners)) or np.any(corners[..., 3] <= 0):
      return 'a triangle with a non-finite or w <= 0 vertex covers pixels'
  return None


def _random_shape(rng: np.random.Generator, max_rank: int) -> tuple[int, ...]:
  return tuple(int(d) for d in rng.integers(0, 5, rng.integers(0, max_rank + 1)))


def _fuzz_ids(rng: np.random.Generator, shape: tuple[int, ...], num_tris: int) -> np.ndarray:
  """Triangle ids in [-2, T] (so some are invalid), mostly int32; int64 with wrapping values, floats."""
  ids = rng.integers(-2, max(num_tris, 1) + 1, size=shape)
  roll = rng.random()
  if roll < 0.1:
    if ids.size and rng.random() < 0.5:
      ids.flat[rng.integers(0, ids.size)] = rng.choice([2**32, 2**32 - 1, -2**32 - 1])
    return ids.astype(np.int64)
  if roll < 0.13:
    return ids.astype(np.float32)
  return ids.astype(np.int32)


def _huge_empty_shapes(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...], int]:
  """Interpolate shapes with one side near 2**31 and no elements: (ids shape, attributes shape, C)."""
  near = int(rng.choice([2**31 - 1, 2**31, 2**31 + 1, 2**32, 2**33]))
  channels = near if rng.random() < 0.5 else int(rng.integers(0, 4))
  ids_shape = (1, 0, near) if rng.random() < 0.5 else (0, 2, 2)
  return ids_shape, (ids_shape[0], 0, channels), channels


def _call(mode: str, fn, *arrays):
  """fn(*arrays) eagerly on the numpy arrays (mode 'eager'), or (mode 'graph') inside a tf.function
  whose input signature has unknown shapes: ranks are then decided when the graph runs."""
  if mode == 'graph':
    specs = [tf.TensorSpec(None, tf.as_dtype(a.dtype)) for a in arrays]
    return tf.function(fn, input_signature=specs)(*[tf.constant(a) for a in arrays])
  return fn(*arrays)


def _fuzz_one(rng: np.random.Generator) -> tuple[str, str | None]:
  """Runs one random call; returns (outcome, failure description or None).

  All inputs are built before the op runs, so that an exception can only come from the API.
  Outcomes: 'ok' / 'graph_ok' (a result, checked), 'invalid_argument' / 'graph_invalid_argument'.
  """
  vertices = _fuzz_vertices(rng)
  num_vertices = vertices.shape[-2] if vertices.ndim >= 2 else 0
  tris = _fuzz_triangles(rng, num_vertices)
  num_tris = tris.shape[0] if tris.ndim else 0
  size = _fuzz_size(rng)
  # Array sides for ids/barycentrics built by hand: the image size when sane, else something small.
  sides = tuple(s if 0 <= s <= 64 else int(rng.integers(0, 3)) for s in size)
  kind = rng.choice(['rasterize', 'gradient', 'interpolate', 'raw_grad'], p=[0.4, 0.25, 0.25, 0.1])
  upstream = tf.constant([0.3, -1.0, 2.0])
  if kind == 'interpolate':
    real_raster = rng.random() < 0.6 and vertices.dtype == np.float32 and tris.dtype == np.int32
    shape = (int(rng.integers(0, 3)), *sides) if rng.random() < 0.8 else _random_shape(rng, 4)
    ids = _fuzz_ids(rng, shape, num_tris)
    bary = _fuzz_values(rng, (*shape, 3) if rng.random() < 0.8 else _random_shape(rng, 4))
    channels = int(rng.integers(0, 5))
    batch = shape[0] if len(shape) == 3 and rng.random() < 0.8 else int(rng.integers(0, 3))
    attr_shape = (batch, num_vertices, channels) if rng.random() < 0.5 else (num_vertices, channels)
    if rng.random() < 0.05:  # sizes near 2**31 without elements: checked before any narrowing
      real_raster = False
      shape, attr_shape, channels = _huge_empty_shapes(rng)
      ids = np.full(shape, -1, np.int32)
      bary = np.zeros((*shape, 3), np.float32)
    attrs = rng.uniform(-10, 10, size=attr_shape).astype(np.float32)
  elif kind == 'raw_grad':
    batch = vertices.shape[0] if vertices.ndim == 3 else 1
    shape = (batch, *sides) if rng.random() < 0.8 else _random_shape(rng, 3)
    ids = _fuzz_ids(rng, shape, num_tris)
    bary = _fuzz_values(rng, (*shape, 3) if rng.random() < 0.8 else (1, 2, 3))
    grad_bary = _fuzz_values(rng, (*shape, 3) if rng.random() < 0.8 else (1, 2, 3))
  mode = 'graph' if kind != 'raw_grad' and rng.random() < 0.125 else 'eager'
  try:
    if kind == 'rasterize':
      out = _call(mode, lambda v, t: tf_ops.rasterize(v, t, size), vertices, tris)
      return _outcome('ok', mode), _check_raster(out, vertices, tris, size)
    if kind == 'gradient':
      def forward_backward(v, t):
        v = tf.convert_to_tensor(v)
        with tf.GradientTape() as tape:
          tape.watch(v)
          out = tf_ops.rasterize(v, t, size)
          loss = tf.reduce_sum(out.barycentrics * upstream)
        return out, tape.gradient(loss, v)
      (out, grad) = _call(mode, forward_backward, vertices, tris)
      problem = _check_raster(out, vertices, tris, size)
      if problem is None and (grad.shape != vertices.shape or np.any(grad.numpy()[..., 2] != 0)):
        problem = f'gradient shape {grad.shape} or non-zero z gradient'
      return _outcome('ok', mode), problem
    if kind == 'interpolate':
      if real_raster:  # ids/barycentrics from a real rasterization (which may itself raise)
        out = tf_ops.rasterize(vertices, tris, size)
        ids, bary = out.triangle_ids.numpy(), out.barycentrics.numpy()
      def interpolate_and_grad(a, i, b, t):
        a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
        with tf.GradientTape() as tape:
          tape.watch([a, b])
          result = tf_ops.interpolate(a, i, b, t)
          loss = tf.reduce_sum(result)
        return result, tape.gradient(loss, [a, b])
      (result, grads) = _call(mode, interpolate_and_grad, attrs, ids, bary, tris)
      res = result.numpy()
      if res.shape != (*ids.shape, attrs.shape[-1]):
        return 'ok', f'interpolate shape {res.shape} for ids {ids.shape} and attributes {attrs.shape}'
      if np.any(res[ids < 0] != 0):
        return 'ok', 'interpolate: background pixel not 0'
      if np.all(np.abs(bary) < 1e30) and not np.all(np.isfinite(res)):  # |bary| < 1e30 excludes NaN
        return 'ok', 'interpolate: non-finite output for finite inputs'
      if grads[0].shape != attrs.shape or grads[1].shape != bary.shape:
        return 'ok', 'interpolate gradient shapes'
      return _outcome('ok', mode), None
    grad = _raw_raster_grad(vertices, tris, ids, bary, grad_bary, *size)
    if grad.shape != vertices.shape:
      return 'ok', f'raw gradient shape {grad.shape} for vertices {vertices.shape}'
    return 'ok', None
  except tf.errors.InvalidArgumentError:
    return _outcome('invalid_argument', mode), None
  except Exception as e:  # pylint: disable=broad-except
    return 'other_error', f'{kind} ({mode}): {type(e).__name__}: {str(e)[:300]}'


def _outcome(result: str, mode: str) -> str:
  return f'graph_{result}' if mode == 'graph' else result


def _fuzz_main(seed: int, count: int) -> None:
  np.seterr(all='ignore')  # Inputs are meant to overflow.
  tf.get_logger().setLevel('ERROR')  # Retracing warnings: every graph-mode case is a new tf.function.
  rng = np.random.default_rng(seed)
  counts = {'ok': 0, 'invalid_argument': 0, 'graph_ok': 0, 'graph_invalid_argument': 0, 'other_error': 0}
  failures = []
  for i in range(count):
    state = rng.bit_generator.state
    outcome, problem = _fuzz_one(rng)
    counts[outcome] += 1
    if problem is not None:
      failures.append({'case': i, 'problem': problem, 'rng_state': state})
  print(json.dumps({'counts': counts, 'failures': failures[:20], 'num_failures': len(failures)}))


@pytest.mark.slow
def test_fuzz_malformed_inputs_raise_invalid_argument_or_give_valid_output() -> None:
  start = time.monotonic()
  result = run_in_subprocess(f'''
    from tests.tf_ops.test_rasterize_bad_input import _fuzz_main
    _fuzz_main(seed=20240501, count={FUZZ_CASES})
  ''', timeout=360)
  elapsed = time.monotonic() - start
  # A non-zero exit (segfault, CHECK failure, abort) is a crash of the op on some input.
  assert result.returncode == 0, f'fuzz subprocess died ({result.returncode}):\n{result.stderr[-4000:]}'
  report = json.loads(result.stdout.strip().splitlines()[-1])
  counts = report['counts']
  assert sum(counts.values()) == FUZZ_CASES
  assert report['num_failures'] == 0, json.dumps(report['failures'], indent=1)
  # The fuzzer exercises both paths substantially, or it tests nothing.
  assert counts['ok'] > FUZZ_CASES // 5 and counts['invalid_argument'] > FUZZ_CASES // 5, counts
  assert counts['graph_ok'] > FUZZ_CASES // 50 and counts['graph_invalid_argument'] > FUZZ_CASES // 50, counts
  print(f'fuzz: {counts} in {elapsed:.1f}s')


if __name__ == '__main__':
  if len(sys.argv) == 4 and sys.argv[1] == '--fuzz':
    _fuzz_main(int(sys.argv[2]), int(sys.argv[3]))
  else:
    sys.exit(__doc__)
