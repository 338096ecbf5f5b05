"""Python API of the fused CPU ops: ``shade_vertices``, ``basis_product``, ``masked_squared_error``,
``upsample_nodes``.

Both compute what a few lines of plain TensorFlow compute (``model.image_formation`` keeps that version,
and the tests compare the two), in one pass over the data and with a hand-written gradient, because the
plain version's cost on a CPU is dominated by per-op overhead, layout copies and general matrix-product
packing, not arithmetic (``python -m model.benchmark --profile``). Results equal the plain version to
float32 rounding, and do not depend on the number of threads.

The kernels are CPU only: ``fused_ops_enabled()`` tells the model whether to use them (no GPU visible,
and ``C3DMM_FUSED_OPS`` not ``0``); on a GPU the plain TensorFlow version runs where the data is.
Bad arguments raise ``tf.errors.InvalidArgumentError`` (shapes, triangle indices outside ``[0, N)``).
"""

from __future__ import annotations

import os
import typing

import numpy as np
import tensorflow as tf

from tf_ops import _loader
from tf_ops import rasterizer

# Default guard of the normal's length: n = s / sqrt(max(|s|^2, eps)).
NORMAL_EPS = 1e-12
# Set to 0 to run the plain TensorFlow formulations instead of the fused CPU ops.
FUSED_OPS_ENV = 'C3DMM_FUSED_OPS'


def fused_ops_enabled() -> bool:
  """True when the fused CPU ops should be used: no GPU visible and ``$C3DMM_FUSED_OPS`` is not 0."""
  if os.environ.get(FUSED_OPS_ENV, '1').strip() == '0':
    return False
  return not tf.config.list_logical_devices('GPU')


class ShadedVertices(typing.NamedTuple):
  """Result of ``shade_vertices``: per-vertex tensors of a batch of meshes.

  Attributes:
    camera_vertices: [B, N, 3] R v + t, camera space, cm.
    normals: [B, N, 3] unit area-weighted vertex normals, camera space.
    irradiance: [B, N, 3] E = sum_k H_k(n) gamma_k per colour channel.
    colors: [B, N, 3] albedo * irradiance.
    clip: [B, N, 4] camera_vertices A + c (the rasterizer's input).
  """
  camera_vertices: tf.Tensor
  normals: tf.Tensor
  irradiance: tf.Tensor
  colors: tf.Tensor
  clip: tf.Tensor


def shade_vertices(vertices, albedo, rotation, translation, sh, triangles, clip_transform,
                   normal_eps: float = NORMAL_EPS) -> ShadedVertices:
  """Pose, area-weighted vertex normals, Lambertian SH shading and clip projection, fused (CPU).

      cam_i = R v_i + t;   s_i = sum_{t at i} (cam_b - cam_a) x (cam_c - cam_a);
      n_i = s_i / sqrt(max(|s_i|^2, eps));   E_i = sum_k H_k(n_i) gamma_k;   colour_i = r_i E_i;
      clip_i = cam_i A + c

  with H_k the Lambertian SH basis of ``model.lighting`` (9 coefficients per channel). Differentiable
  with respect to vertices, albedo, rotation, translation and sh.

  Args:
    vertices: float32 [B, N, 3] model-space positions, cm.
    albedo: float32 [B, N, 3] reflectance.
    rotation: float32 [B, 3, 3] R.
    translation: float32 [B, 3] t, cm.
    sh: float32 [B, 9, 3] SH coefficients gamma.
    triangles: int32 or int64 [T, 3] counter-clockwise triangles (outward normals), values in [0, N).
    clip_transform: float32 [4, 4]: rows 0-2 = A [3, 4], row 3 = c [4] (``model.camera.clip_matrix``).
    normal_eps: the guard of the normals' length (vertices in no triangle get a zero normal).

  Returns:
    ``ShadedVertices``.
  """
  args = [rasterizer._float32_input(x, name) for x, name in (  # pylint: disable=protected-access
      (vertices, 'vertices'), (albedo, 'albedo'), (rotation, 'rotation'), (translation, 'translation'),
      (sh, 'sh'))]
  triangles = rasterizer._index_input(triangles, 'triangles')  # pylint: disable=protected-access
  clip_transform = rasterizer._float32_input(clip_transform, 'clip_transform')  # pylint: disable=protected-access
  return ShadedVertices(*_loader.ops().shade_vertices(*args, triangles, clip_transform,
                                                      normal_eps=float(normal_eps)))


def basis_product(coefficients, basis) -> tf.Tensor:
  """out[b, i] = sum_k coefficients[b, k] basis[i, k] (``tf.matmul(coefficients, basis, transpose_b=True)``).

  One pass over the basis, forward and backward (CPU); differentiable with respect to both inputs.

  Args:
    coefficients: float32 [B, K].
    basis: float32 [D, K].

  Returns:
    float32 [B, D].
  """
  coefficients = rasterizer._float32_input(coefficients, 'coefficients')  # pylint: disable=protected-access
  basis = rasterizer._float32_input(basis, 'basis')  # pylint: disable=protected-access
  return _loader.ops().basis_product(coefficients, basis)


def masked_squared_error(a, b, mask, fused: typing.Optional[bool] = None) -> tf.Tensor:
  """Per-example masked sum of squared differences (the numerator of the photometric loss, Eq. 8).

      out[n] = sum_p mask[n, p] sum_c (a[n, p, c] - b[n, p, c])^2

  Differentiable with respect to ``a`` only: ``b`` (the target images) and ``mask`` (the rasterizer's
  coverage, which has no gradient) are constants of the loss, as if behind ``tf.stop_gradient``.

  Args:
    a: float32 [N, ..., C] (e.g. [N, H, W, 3] rendered images).
    b: float32, the same shape (targets).
    mask: float32 [N, ..., 1], the same leading shape.
    fused: True: the fused CPU op (one pass forward, one backward); False: plain TensorFlow; None:
      ``fused_ops_enabled()``.

  Returns:
    float32 [N].
  """
  a = rasterizer._float32_input(a, 'a')  # pylint: disable=protected-access
  b = rasterizer._float32_input(b, 'b')  # pylint: disable=protected-access
  mask = rasterizer._float32_input(mask, 'mask')  # pylint: disable=protected-access
  if fused is None:
    fused = fused_ops_enabled()
  if not fused:
    axes = tf.range(1, tf.rank(a))
    squared = tf.square(a - tf.stop_gradient(b))
    return tf.reduce_sum(tf.reduce_sum(squared, -1, keepdims=True) * tf.stop_gradient(mask), axes)
  shape = tf.shape(a)
  flat = tf.stack([shape[0], -1, shape[-1]])
  return _loader.ops().masked_squared_error(tf.reshape(a, flat), tf.reshape(b, flat),
                                            tf.reshape(mask, flat[:2]))


def upsample_nodes(values, neighbours, weights) -> tf.Tensor:
  """Blends node values into vertices: out[b, n, c] = sum_k weights[n, k] values[b, neighbours[n, k], c].

  The deformation graph's upsampling U (``[N, G]``, at most K non-zeros per row; see
  ``padded_rows``) applied in the ``[B, rows, C]`` layout, without the transposes a sparse-dense matrix
  product needs. Differentiable with respect to ``values`` (``neighbours`` and ``weights`` are constants).

  Args:
    values: float32 [B, G, C].
    neighbours: int32 or int64 [N, K], values in [0, G).
    weights: float32 [N, K] (0 for padding).

  Returns:
    float32 [B, N, C].
  """
  values = rasterizer._float32_input(values, 'values')  # pylint: disable=protected-access
  neighbours = rasterizer._index_input(neighbours, 'neighbours')  # pylint: disable=protected-access
  weights = rasterizer._float32_input(weights, 'weights')  # pylint: disable=protected-access
  return _loader.ops().upsample_nodes(values, neighbours, weights)


def padded_rows(matrix) -> typing.Tuple[np.ndarray, np.ndarray]:
  """The rows of a scipy sparse matrix [N, G] as (neighbours int32 [N, K], weights float32 [N, K]).

  K is the largest number of non-zeros in a row; shorter rows are padded with column 0 and weight 0.
  """
  csr = matrix.tocsr()
  counts = np.diff(csr.indptr)
  k = max(int(counts.max(initial=0)), 1)
  neighbours = np.zeros((csr.shape[0], k), np.int32)
  weights = np.zeros((csr.shape[0], k), np.float32)
  slot = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], counts)
  rows = np.repeat(np.arange(csr.shape[0]), counts)
  neighbours[rows, slot] = csr.indices
  weights[rows, slot] = csr.data
  return neighbours, weights


def _zeros_if_none(grad, like: tf.Tensor) -> tf.Tensor:
  return tf.zeros_like(like) if grad is None else grad


@tf.RegisterGradient('ShadeVertices')
def _shade_vertices_grad(op: tf.Operation, *grads):
  inputs = list(op.inputs)
  upstream = [_zeros_if_none(g, out) for g, out in zip(grads, op.outputs)]
  grad = _loader.ops().shade_vertices_grad(*inputs, op.outputs[0], op.outputs[2], *upstream,
                                           normal_eps=op.get_attr('normal_eps'))
  return list(grad) + [None, None]


@tf.RegisterGradient('BasisProduct')
def _basis_product_grad(op: tf.Operation, grad_out):
  return list(_loader.ops().basis_product_grad(op.inputs[0], op.inputs[1], grad_out))


@tf.RegisterGradient('MaskedSquaredError')
def _masked_squared_error_grad(op: tf.Operation, grad_out):
  return _loader.ops().masked_squared_error_grad(*op.inputs, grad_out), None, None


@tf.RegisterGradient('UpsampleNodes')
def _upsample_nodes_grad(op: tf.Operation, grad_out):
  return _loader.ops().upsample_nodes_grad(*op.inputs, grad_out), None, None
