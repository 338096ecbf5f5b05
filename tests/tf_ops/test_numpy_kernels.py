"""The pybind11 binding of the kernels (tf_ops.numpy_kernels) renders exactly like the TF op."""

import numpy as np
import pytest

import tf_ops
from tf_ops import _loader, numpy_kernels


def _scene(batch: int = 2, vertices: int = 40, triangles: int = 70, seed: int = 5):
  """Overlapping random triangles in front of the camera, some with w <= 0 or NaN (skipped)."""
  rng = np.random.default_rng(seed)
  w = rng.uniform(0.5, 2.0, (batch, vertices, 1))
  clip = np.concatenate([rng.uniform(-1.2, 1.2, (batch, vertices, 2)) * w,
                         rng.uniform(-0.9, 0.9, (batch, vertices, 1)) * w, w], -1).astype(np.float32)
  clip[0, 3, 3] = -1.0
  clip[1, 5, 0] = np.nan
  tris = rng.integers(0, vertices, (triangles, 3)).astype(np.int32)
  return clip, tris


def test_rasterize_is_bit_identical_to_the_tf_op() -> None:
  clip, tris = _scene()
  ids, bary, depth = numpy_kernels.rasterize(clip, tris, 24, 31)
  ref = tf_ops.rasterize(clip, tris, (24, 31))
  assert 0.2 < (ids >= 0).mean() < 1.0  # a scene with background and overlaps
  np.testing.assert_array_equal(ids, ref.triangle_ids.numpy())
  np.testing.assert_array_equal(bary, ref.barycentrics.numpy())
  np.testing.assert_array_equal(depth, ref.depth.numpy())


def test_gradients_and_interpolation_match_the_tf_ops() -> None:
  clip, tris = _scene(seed=9)
  ids, bary, _ = numpy_kernels.rasterize(clip, tris, 20, 20)
  rng = np.random.default_rng(1)
  grad_bary = rng.normal(size=bary.shape).astype(np.float32)
  ops = _loader.ops()
  ref_grad = ops.rasterize_triangles_grad(clip, tris, ids, bary, grad_bary, image_height=20,
                                          image_width=20).numpy()
  grad = numpy_kernels.rasterize_grad(clip, tris, ids, bary, grad_bary)
  assert np.abs(ref_grad).max() > 0
  # The TF op may sum row bands of an image in another order: equal to float rounding.
  np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-5 * np.abs(ref_grad).max())
  attrs = rng.uniform(size=(2, 40, 3)).astype(np.float32)
  image = numpy_kernels.interpolate(attrs, ids, bary, tris)
  np.testing.assert_array_equal(image, tf_ops.interpolate(attrs, ids, bary, tris).numpy())
  grad_image = rng.normal(size=image.shape).astype(np.float32)
  grad_attrs, grad_bary_interp = numpy_kernels.interpolate_grad(attrs, ids, bary, tris, grad_image)
  ref_attrs, ref_bary = ops.interpolate_attributes_grad(attrs, ids, bary, tris, grad_image)
  np.testing.assert_allclose(grad_attrs, ref_attrs.numpy(), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(grad_bary_interp, ref_bary.numpy())


def test_unsafe_dtype_conversions_raise_type_error() -> None:
  clip, tris = _scene()
  with pytest.raises(TypeError):
    numpy_kernels.rasterize(clip.astype(np.float64), tris, 4, 4)
  with pytest.raises(TypeError):
    numpy_kernels.rasterize(clip, tris.astype(np.int64), 4, 4)
  with pytest.raises(TypeError):
    numpy_kernels.rasterize(clip, tris.astype(np.float32), 4, 4)
  # Safe widening is allowed and renders the same.
  ids, _, _ = numpy_kernels.rasterize(clip, tris.astype(np.int16), 4, 4)
  np.testing.assert_array_equal(ids, numpy_kernels.rasterize(clip, tris, 4, 4)[0])


@pytest.mark.parametrize('case', ['index_high', 'index_negative', 'vertices_shape', 'triangles_shape',
                                  'size_zero', 'size_huge'])
def test_bad_rasterize_input_raises_value_error(case: str) -> None:
  clip, tris = _scene()
  height = width = 4
  if case == 'index_high':
    tris[3, 1] = clip.shape[1]
  elif case == 'index_negative':
    tris[0, 0] = -1
  elif case == 'vertices_shape':
    clip = clip[..., :3].copy()
  elif case == 'triangles_shape':
    tris = tris[:, :2].copy()
  elif case == 'size_zero':
    height = 0
  elif case == 'size_huge':
    width = numpy_kernels.MAX_IMAGE_SIZE + 1
  with pytest.raises(ValueError):
    numpy_kernels.rasterize(clip, tris, height, width)


def test_bad_ids_and_shapes_in_interpolate_and_gradients_raise_value_error() -> None:
  clip, tris = _scene()
  ids, bary, _ = numpy_kernels.rasterize(clip, tris, 6, 5)
  attrs = np.ones((2, 40, 3), np.float32)
  bad_ids = ids.copy()
  bad_ids[1, 2, 3] = len(tris)
  for call in (lambda: numpy_kernels.interpolate(attrs, bad_ids, bary, tris),
               lambda: numpy_kernels.interpolate(attrs[:1], ids, bary, tris),
               lambda: numpy_kernels.interpolate(attrs, ids, bary[..., :2], tris),
               lambda: numpy_kernels.interpolate_grad(attrs, ids, bary, tris,
                                                      np.ones((2, 6, 5, 2), np.float32)),
               lambda: numpy_kernels.rasterize_grad(clip, tris, bad_ids, bary, bary),
               lambda: numpy_kernels.rasterize_grad(clip, tris, ids, bary, bary[:, :5])):
    with pytest.raises(ValueError):
      call()
