"""Spherical-harmonics illumination of a Lambertian surface (paper Eq. 4, B = 3 bands, 9 coefficients).

    c = r * sum_b gamma_b H_b(n),     gamma: [B, 9, 3] (9 coefficients per colour channel)

H_b(n) = A_l Y_b(n): the real SH basis Y (Ramamoorthi & Hanrahan 2001 ordering
``Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22`` ~ ``1, y, z, x, xy, yz, 3z^2-1, xz, x^2-y^2``)
times the Lambertian clamped-cosine convolution constants ``A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4``.
gamma are then the SH coefficients of the incoming radiance and ``sum_b gamma_b H_b(n)`` is the
irradiance E(n) (Ramamoorthi & Hanrahan's 9-term approximation of the clamped-cosine convolution).
Normals are unit vectors in camera space, so the lighting is fixed relative to the camera.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from model import shape_checks

NUM_SH_COEFFICIENTS = 9
_A0, _A1, _A2 = math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0
_C0 = 0.5 * math.sqrt(1.0 / math.pi)          # 0.282095
_C1 = math.sqrt(3.0 / (4.0 * math.pi))        # 0.488603
_C2 = 0.5 * math.sqrt(15.0 / math.pi)         # 1.092548
_C20 = 0.25 * math.sqrt(5.0 / math.pi)        # 0.315392
_C22 = 0.25 * math.sqrt(15.0 / math.pi)       # 0.546274
# H_0 = A_0 Y_00: the constant term; gamma_0 = 1 / H0_CONSTANT gives unit ambient shading.
H0_CONSTANT = _A0 * _C0


def real_sh_basis(directions: np.ndarray) -> np.ndarray:
  """Real SH basis Y_b(d) [..., 9] of unit directions [..., 3] (numpy; for building light rigs)."""
  x, y, z = np.moveaxis(np.asarray(directions, np.float64), -1, 0)
  return np.stack([np.full_like(x, _C0), _C1 * y, _C1 * z, _C1 * x, _C2 * x * y, _C2 * y * z,
                   _C20 * (3 * z * z - 1), _C2 * x * z, _C22 * (x * x - y * y)], -1)


def sh_basis(normals: tf.Tensor) -> tf.Tensor:
  """Lambertian SH basis H_b(n) = A_l Y_b(n).

  Args:
    normals: [..., 3] unit normals.

  Returns:
    [..., 9].
  """
  normals = shape_checks.ShapeChecker('sh_basis')('normals', normals, ('...', 3))
  return tf.stack(_sh_basis_images(*tf.unstack(normals, axis=-1)), -1)


def _sh_basis_images(x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) -> list[tf.Tensor]:
  """The nine H_b as separate tensors of the normals' components' shape."""
  return [tf.fill(tf.shape(x), _A0 * _C0),
          _A1 * _C1 * y, _A1 * _C1 * z, _A1 * _C1 * x,
          _A2 * _C2 * x * y, _A2 * _C2 * y * z, _A2 * _C20 * (3.0 * z * z - 1.0),
          _A2 * _C2 * x * z, _A2 * _C22 * (x * x - y * y)]


def shading(normals: tf.Tensor, sh: tf.Tensor) -> tf.Tensor:
  """Irradiance per point and channel: E_c(n) = sum_b gamma_bc H_b(n).

  Args:
    normals: [B, N, 3] unit normals (camera space).
    sh: [B, 9, 3] SH coefficients gamma per colour channel.

  Returns:
    [B, N, 3].

  Raises:
    ValueError: on wrong ranks or sizes, or batch sizes that differ.
  """
  check = shape_checks.ShapeChecker('shading')
  normals = check('normals', normals, ('B', None, 3))
  sh = check('sh', sh, ('B', NUM_SH_COEFFICIENTS, 3))
  # Basis images stacked on a leading axis ([9, B, N]: nine block copies, where stacking on the last
  # axis interleaves single floats and took longer than the rest of the shading). Also measured: the
  # same sum as a quadratic form of (n, 1) (an outer product and a matrix product, or three small
  # matrix products), slower on CPU.
  components = tf.unstack(tf.transpose(normals, [2, 0, 1]))  # x, y, z: [B, N] each
  return tf.einsum('kbn,bkc->bnc', tf.stack(_sh_basis_images(*components), 0), sh)


def shade(albedo: tf.Tensor, normals: tf.Tensor, sh: tf.Tensor) -> tf.Tensor:
  """Lambertian colour c = r * sum_b gamma_b H_b(n) (Eq. 4); albedo [B, N, 3] -> [B, N, 3]."""
  albedo = shape_checks.ShapeChecker('shade')('albedo', albedo, (None, None, 3))
  return albedo * shading(normals, sh)


def ambient_sh(intensity=1.0, batch_size: int = 1) -> np.ndarray:
  """SH coefficients [B, 9, 3] of uniform light with shading ``intensity`` (scalar or RGB)."""
  sh = np.zeros((batch_size, NUM_SH_COEFFICIENTS, 3), np.float32)
  sh[:, 0, :] = np.asarray(intensity, np.float32) / H0_CONSTANT
  return sh


def directional_sh(direction, intensity=0.8, ambient=0.4, batch_size: int = 1) -> np.ndarray:
  """SH coefficients [B, 9, 3] of ambient light plus a distant light from ``direction``.

  A distant light of radiance I from unit direction d has SH coefficients gamma_b = I Y_b(d); its
  irradiance is then ~ I max(0, n.d) (9-term approximation), so a surface facing the light gets shading
  ~ ambient + intensity.

  Args:
    direction: [3] direction towards the light, camera space (e.g. (0, 0, 1) = from the camera).
    intensity: scalar or RGB, the directional part of the shading of a surface facing the light.
    ambient: scalar or RGB, the uniform part.
    batch_size: B.
  """
  d = np.asarray(direction, np.float64)
  d = d / np.linalg.norm(d)
  y = real_sh_basis(d)  # [9]
  # Irradiance of a directional light: E(n) = I max(0, n.d) ~ sum_l A_l Y_lm(d) Y_lm(n) * I, i.e.
  # gamma_b = I Y_b(d) in the H_b = A_l Y_b parameterization.
  sh = y[:, None] * np.asarray(intensity, np.float64) * np.ones(3)
  sh[0] += np.asarray(ambient, np.float64) / H0_CONSTANT
  return np.tile(sh[None].astype(np.float32), (batch_size, 1, 1))
