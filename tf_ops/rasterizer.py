"""Python API of the rasterizer op: ``rasterize`` and ``interpolate``, both differentiable.

Conventions
-----------
* Input vertices are in clip space ``(x, y, z, w)``, OpenGL style: a point is visible when
  ``-w <= x, y, z <= w`` and ``w > 0``; NDC = ``(x, y, z) / w``.
* Pixel ``(ix, iy)`` samples its centre: NDC ``x = (ix + 0.5) * 2 / W - 1`` and
  ``y = 1 - (iy + 0.5) * 2 / H``, so image row 0 is the TOP row (+y is up in NDC).
* A pixel takes the covering triangle with the smallest NDC depth ``z / w``; on exactly equal depth the
  lower triangle index wins (deterministic, and identical on CPU and GPU). Fragments with NDC depth
  outside ``[-1, 1]`` (in front of the near or behind the far plane) are discarded.
* Both windings are rasterized (no back-face culling).
* Triangles with a vertex at ``w <= 0`` (at or behind the camera plane), a non-finite coordinate or zero
  screen area cover nothing: they are skipped, not clipped. Face meshes in front of the camera never
  need clipping; a mesh straddling the camera plane loses the straddling triangles.
* Background pixels: ``triangle_id = -1``, barycentrics 0, depth 1 (the far plane).

Gradients
---------
``barycentrics`` are differentiable with respect to the clip-space ``x, y, w`` of the covering
triangle's three vertices, with the triangle ids held fixed (no visibility gradient). ``z`` gets no
gradient; neither do ``triangle_ids`` or ``depth``. ``interpolate`` is differentiable with respect to the
attributes and the barycentrics.

Errors
------
One error type for every bad argument, eager or in a ``tf.function``: ``tf.errors.InvalidArgumentError``.
* dtypes: vertices, attributes and barycentrics must be float32 tensors or arrays; triangles and triangle
  ids int32 or int64 (each value range-checked, so int64 never wraps). Nothing is cast silently: float64,
  float16 or float index arrays raise. Python lists are converted (numbers to float32 for the float
  inputs; integers exactly, floats rejected, for the index inputs).
* ``image_size``: two finite integers in ``[1, MAX_IMAGE_SIZE]`` (None, NaN, Inf, 2.5 raise).
* ranks and shapes (static ones checked by the Python API; unknown ones when the op runs), indices out of
  ``[0, V)``, ids out of ``[-1, T)``, sizes beyond the kernels' int32 counts.
Running out of memory (outputs or the CPU kernels' buffers) raises ``tf.errors.ResourceExhaustedError``.
What is not an error but skipped: see the conventions above (w <= 0, non-finite or overflowing vertices,
zero-area triangles cover nothing); empty meshes and empty batches render background.
"""

from __future__ import annotations

import math
import numbers
import typing

import numpy as np
import tensorflow as tf

from tf_ops import _loader

# Largest accepted image side; larger sizes raise InvalidArgumentError (matches kMaxImageSize in C++).
MAX_IMAGE_SIZE = 16384
# Accepted dtypes of triangles and triangle ids; each value is range-checked by the op, so int64 never wraps.
INDEX_DTYPES = (tf.int32, tf.int64)


class RasterOutput(typing.NamedTuple):
  """Result of ``rasterize``.

  Attributes:
    triangle_ids: int32 ``[B, H, W]``, index of the visible triangle, -1 for background.
    barycentrics: float32 ``[B, H, W, 3]``, perspective-correct barycentric coordinates of the pixel
      centre in the visible triangle (0 for background).
    depth: float32 ``[B, H, W]``, NDC depth ``z / w`` in [-1, 1] of the visible surface (1 for
      background).
  """
  triangle_ids: tf.Tensor
  barycentrics: tf.Tensor
  depth: tf.Tensor


def _argument_error(message: str) -> tf.errors.InvalidArgumentError:
  return tf.errors.InvalidArgumentError(None, None, message)


def _to_tensor(value, name: str) -> tf.Tensor:
  """``value`` as a tensor of its own dtype: Tensors and numpy arrays keep theirs (never cast here);
  Python numbers and nested lists become int64 or float64 numpy arrays first (no wrap-around)."""
  try:
    if not (isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, 'dtype')):
      value = np.asarray(value)
    return tf.convert_to_tensor(value)
  except (TypeError, ValueError) as e:
    raise _argument_error(f'{name}: cannot make a tensor of {type(value).__name__}: {e}') from None


def _float32_input(value, name: str) -> tf.Tensor:
  """float32 tensor of ``value``. Python lists are converted; tensors and arrays must be float32."""
  from_python = not (isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, 'dtype'))
  tensor = _to_tensor(value, name)
  if from_python and (tensor.dtype.is_floating or tensor.dtype.is_integer):
    return tf.cast(tensor, tf.float32)
  if tensor.dtype != tf.float32:
    raise _argument_error(f'{name} must be float32, got {tensor.dtype.name}; cast it explicitly '
                          f'(tf.cast({name}, tf.float32)) if that is what you want.')
  return tensor


def _index_input(value, name: str) -> tf.Tensor:
  """int32 or int64 tensor of ``value``; the op checks every value's range (int64 never wraps)."""
  tensor = _to_tensor(value, name)
  if tensor.dtype not in INDEX_DTYPES:
    raise _argument_error(f'{name} must be int32 or int64, got {tensor.dtype.name}: indices are '
                          'never converted from other types (no silent truncation or wrap-around).')
  return tensor


def _image_size(image_size) -> tuple[int, int]:
  """(height, width) as Python ints in [1, MAX_IMAGE_SIZE]; anything else raises."""
  def integral(side) -> bool:  # a real number with an integer value (not a bool or a string)
    if isinstance(side, (bool, np.bool_, str, bytes)) or not isinstance(side, (numbers.Real, np.number)):
      return False
    return math.isfinite(float(side)) and float(side) == int(side)
  try:
    sides = list(image_size)
    ok = len(sides) == 2 and all(integral(s) for s in sides)
  except TypeError:  # not iterable (None, a number)
    ok = False
  if not ok:
    raise _argument_error(f'image_size must be two integers (height, width), got {image_size!r}')
  height, width = (int(s) for s in sides)
  if not (1 <= height <= MAX_IMAGE_SIZE and 1 <= width <= MAX_IMAGE_SIZE):
    raise _argument_error(f'image_size must be in [1, {MAX_IMAGE_SIZE}] per side, got {height}x{width}')
  return height, width


def _check_rank(tensor: tf.Tensor, name: str, ranks: tuple[int, ...], layout: str) -> None:
  """Raises when the static rank is known and not one of ``ranks`` (unknown ranks: at run time)."""
  if tensor.shape.rank is not None and tensor.shape.rank not in ranks:
    raise _argument_error(f'{name} must have shape {layout}, got {tensor.shape}')


def _add_batch(tensor: tf.Tensor, unbatched_rank: int):
  """Returns ``(batched, unbatched)``: ``tensor`` with a leading batch axis when its rank is
  ``unbatched_rank``. ``unbatched`` is a Python bool for a static rank, else a scalar bool tensor (the
  rank is decided when the graph runs, as in eager mode)."""
  if tensor.shape.rank is not None:
    unbatched = tensor.shape.rank == unbatched_rank
    return (tensor[tf.newaxis] if unbatched else tensor), unbatched
  unbatched = tf.equal(tf.rank(tensor), unbatched_rank)
  return tf.cond(unbatched, lambda: tensor[tf.newaxis], lambda: tensor), unbatched


def _add_batch_like(tensor: tf.Tensor, unbatched) -> tf.Tensor:
  """Gives ``tensor`` the batch axis that ``_add_batch`` gave its companion (``unbatched``)."""
  if isinstance(unbatched, bool):
    return tensor[tf.newaxis] if unbatched else tensor
  return tf.cond(unbatched, lambda: tensor[tf.newaxis], lambda: tensor)


def _drop_batch(tensor: tf.Tensor, unbatched) -> tf.Tensor:
  """Inverse of ``_add_batch`` on an output."""
  if isinstance(unbatched, bool):
    return tensor[0] if unbatched else tensor
  return tf.cond(unbatched, lambda: tensor[0], lambda: tensor)


def rasterize(clip_vertices: tf.Tensor, triangles: tf.Tensor,
              image_size: typing.Tuple[int, int]) -> RasterOutput:
  """Rasterizes a batch of triangle meshes sharing one topology.

  Args:
    clip_vertices: float32 ``[B, V, 4]`` or ``[V, 4]`` clip-space vertex positions.
    triangles: int32 or int64 ``[T, 3]`` vertex indices in ``[0, V)``, shared by the batch.
    image_size: ``(height, width)`` in pixels, integers in ``[1, MAX_IMAGE_SIZE]``.

  Returns:
    A ``RasterOutput``; without a batch dimension in the input, the outputs have none either (decided
    when the op runs if the rank is only known then).

  Raises:
    tf.errors.InvalidArgumentError: for every bad argument (module docstring, "Errors"): a wrong
      dtype, rank or shape, an index outside ``[0, V)``, a bad image size. Checks that need the values or a
      shape unknown while tracing raise when the op runs (eagerly, or when the graph runs).
    tf.errors.ResourceExhaustedError: when the outputs or the kernel's buffers do not fit in memory.
  """
  clip_vertices = _float32_input(clip_vertices, 'clip_vertices')
  triangles = _index_input(triangles, 'triangles')
  height, width = _image_size(image_size)
  _check_rank(clip_vertices, 'clip_vertices', (2, 3), '[B, V, 4] or [V, 4]')
  _check_rank(triangles, 'triangles', (2,), '[T, 3]')
  clip_vertices, unbatched = _add_batch(clip_vertices, 2)
  ids, bary, depth = _loader.ops().rasterize_triangles(
      clip_vertices, triangles, image_height=height, image_width=width)
  return RasterOutput(*(_drop_batch(x, unbatched) for x in (ids, bary, depth)))


def interpolate(attributes: tf.Tensor, triangle_ids: tf.Tensor, barycentrics: tf.Tensor,
                triangles: tf.Tensor) -> tf.Tensor:
  """Interpolates per-vertex attributes over the rasterized pixels.

  ``out[b, y, x] = sum_k barycentrics[b, y, x, k] * attributes[b, triangles[id, k]]`` where
  ``id = triangle_ids[b, y, x]``; background pixels (id -1) get 0.

  Args:
    attributes: float32 ``[B, V, C]`` (or ``[V, C]``, shared by the batch) per-vertex attributes:
      colours, positions, normals...
    triangle_ids: int32 or int64 ``[B, H, W]`` (or ``[H, W]``) from ``rasterize``, in ``[-1, T)``.
    barycentrics: float32 ``[B, H, W, 3]`` (or ``[H, W, 3]``) from ``rasterize``.
    triangles: int32 or int64 ``[T, 3]``, the topology given to ``rasterize``, in ``[0, V)``.

  Returns:
    float32 ``[B, H, W, C]`` (``[H, W, C]`` for unbatched ids), differentiable with respect to
    ``attributes`` and ``barycentrics``.

  Raises:
    tf.errors.InvalidArgumentError: for every bad argument (module docstring, "Errors").
    tf.errors.ResourceExhaustedError: when the output does not fit in memory.
  """
  attributes = _float32_input(attributes, 'attributes')
  triangle_ids = _index_input(triangle_ids, 'triangle_ids')
  barycentrics = _float32_input(barycentrics, 'barycentrics')
  triangles = _index_input(triangles, 'triangles')
  _check_rank(attributes, 'attributes', (2, 3), '[B, V, C] or [V, C]')
  _check_rank(triangle_ids, 'triangle_ids', (2, 3), '[B, H, W] or [H, W]')
  _check_rank(barycentrics, 'barycentrics', (3, 4), '[B, H, W, 3] or [H, W, 3]')
  _check_rank(triangles, 'triangles', (2,), '[T, 3]')
  triangle_ids, unbatched = _add_batch(triangle_ids, 2)
  barycentrics = _add_batch_like(barycentrics, unbatched)
  def broadcast(shared):  # [V, C] -> [B, V, C]
    return tf.broadcast_to(shared[tf.newaxis],
                           tf.concat([tf.shape(triangle_ids)[:1], tf.shape(shared)], 0))
  if attributes.shape.rank == 2:
    attributes = broadcast(attributes)
  elif attributes.shape.rank is None:
    attributes = tf.cond(tf.equal(tf.rank(attributes), 2), lambda: broadcast(attributes),
                         lambda: attributes)
  out = _loader.ops().interpolate_attributes(attributes, triangle_ids, barycentrics, triangles)
  return _drop_batch(out, unbatched)


@tf.RegisterGradient('RasterizeTriangles')
def _rasterize_grad(op: tf.Operation, grad_ids, grad_bary, grad_depth):
  del grad_ids, grad_depth  # Ids are discrete; depth is not differentiated (documented).
  clip_vertices, triangles = op.inputs
  grad_vertices = _loader.ops().rasterize_triangles_grad(
      clip_vertices, triangles, op.outputs[0], op.outputs[1], grad_bary,
      image_height=op.get_attr('image_height'), image_width=op.get_attr('image_width'))
  return grad_vertices, None


@tf.RegisterGradient('InterpolateAttributes')
def _interpolate_grad(op: tf.Operation, grad_out):
  attributes, triangle_ids, barycentrics, triangles = op.inputs
  grad_attributes, grad_bary = _loader.ops().interpolate_attributes_grad(
      attributes, triangle_ids, barycentrics, triangles, grad_out)
  return grad_attributes, None, grad_bary, None
