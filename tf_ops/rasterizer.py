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
"""

from __future__ import annotations

import typing

import tensorflow as tf

from tf_ops import _loader

# Largest accepted image side; larger sizes raise InvalidArgumentError (matches kMaxImageSize in C++).
MAX_IMAGE_SIZE = 16384


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


def _check_triangles(triangles: tf.Tensor) -> tf.Tensor:
  triangles = tf.convert_to_tensor(triangles)
  if triangles.dtype != tf.int32:
    raise tf.errors.InvalidArgumentError(
        None, None, f'triangles must be int32, got {triangles.dtype.name}; cast them explicitly '
        '(tf.cast(triangles, tf.int32)) after checking they fit.')
  return triangles


def rasterize(clip_vertices: tf.Tensor, triangles: tf.Tensor,
              image_size: typing.Tuple[int, int]) -> RasterOutput:
  """Rasterizes a batch of triangle meshes sharing one topology.

  Args:
    clip_vertices: float32 ``[B, V, 4]`` or ``[V, 4]`` clip-space vertex positions.
    triangles: int32 ``[T, 3]`` vertex indices in ``[0, V)``, shared by the batch.
    image_size: ``(height, width)`` in pixels, each in ``[1, MAX_IMAGE_SIZE]``.

  Returns:
    A ``RasterOutput``; without a batch dimension in the input, the outputs have none either.

  Raises:
    tf.errors.InvalidArgumentError: on wrong dtypes or image sizes (when called), and on wrong shapes
      or out-of-range triangle indices when the op runs (eagerly, or when the graph runs).
    ValueError: while tracing a ``tf.function`` whose static shapes already have the wrong rank.
  """
  clip_vertices = tf.convert_to_tensor(clip_vertices)
  if clip_vertices.dtype != tf.float32:
    raise tf.errors.InvalidArgumentError(
        None, None, f'clip_vertices must be float32, got {clip_vertices.dtype.name}')
  triangles = _check_triangles(triangles)
  if len(image_size) != 2 or any(int(s) != s for s in image_size):
    raise tf.errors.InvalidArgumentError(
        None, None, f'image_size must be two integers (height, width), got {image_size}')
  height, width = (int(s) for s in image_size)
  if not (1 <= height <= MAX_IMAGE_SIZE and 1 <= width <= MAX_IMAGE_SIZE):
    raise tf.errors.InvalidArgumentError(
        None, None, f'image_size must be in [1, {MAX_IMAGE_SIZE}] per side, got {height}x{width}')
  unbatched = clip_vertices.shape.rank == 2
  if unbatched:
    clip_vertices = clip_vertices[tf.newaxis]
  ids, bary, depth = _loader.ops().rasterize_triangles(
      clip_vertices, triangles, image_height=height, image_width=width)
  if unbatched:
    return RasterOutput(ids[0], bary[0], depth[0])
  return RasterOutput(ids, bary, depth)


def interpolate(attributes: tf.Tensor, triangle_ids: tf.Tensor, barycentrics: tf.Tensor,
                triangles: tf.Tensor) -> tf.Tensor:
  """Interpolates per-vertex attributes over the rasterized pixels.

  ``out[b, y, x] = sum_k barycentrics[b, y, x, k] * attributes[b, triangles[id, k]]`` where
  ``id = triangle_ids[b, y, x]``; background pixels (id -1) get 0.

  Args:
    attributes: float32 ``[B, V, C]`` (or ``[V, C]``, shared by the batch) per-vertex attributes:
      colours, positions, normals...
    triangle_ids: int32 ``[B, H, W]`` from ``rasterize``.
    barycentrics: float32 ``[B, H, W, 3]`` from ``rasterize``.
    triangles: int32 ``[T, 3]``, the topology given to ``rasterize``.

  Returns:
    float32 ``[B, H, W, C]``, differentiable with respect to ``attributes`` and ``barycentrics``.
  """
  attributes = tf.convert_to_tensor(attributes, tf.float32)
  triangles = _check_triangles(triangles)
  triangle_ids = tf.convert_to_tensor(triangle_ids, tf.int32)
  barycentrics = tf.convert_to_tensor(barycentrics, tf.float32)
  unbatched = triangle_ids.shape.rank == 2
  if unbatched:
    triangle_ids = triangle_ids[tf.newaxis]
    barycentrics = barycentrics[tf.newaxis]
  if attributes.shape.rank == 2:
    attributes = tf.broadcast_to(attributes[tf.newaxis],
                                 tf.concat([tf.shape(triangle_ids)[:1], tf.shape(attributes)], 0))
  out = _loader.ops().interpolate_attributes(attributes, triangle_ids, barycentrics, triangles)
  return out[0] if unbatched else out


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
