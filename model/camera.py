"""Rigid pose and the perspective camera (paper Sec. 3.2): phi(v) = R v + t, p(v) = pi(phi(v)).

Conventions (DESIGN.md): camera space is OpenGL-like, +x right, +y up, the camera at the origin looks down
-z. The template faces +z, so with the identity rotation and a translation ``(0, 0, -d)`` the face looks
straight into the camera from d cm away.

Pixel coordinates: ``(x, y)`` with x to the right and y DOWN (row 0 is the top image row), and the centre
of pixel (ix, iy) at (ix, iy) (OpenCV / dlib landmark convention). The rasterizer samples the same pixel
centres, so a projected point lands on the pixel it covers.

Rotation: Euler angles ``(pitch, yaw, roll)`` in radians about the camera x, y and z axes (right-handed),
``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` (pitch applied first). +yaw rotates +z towards +x: the nose moves
to the image right. +pitch rotates +z towards -y: the face looks down. +roll rotates +x towards +y: the
face turns counter-clockwise in the image.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np
import tensorflow as tf

from model import config
from model import shape_checks

DEFAULT_IMAGE_SIZE = (config.IMAGE_SIZE, config.IMAGE_SIZE)
# ~13.7 degree vertical field of view at 240 px: a mild, portrait-like perspective.
DEFAULT_FOCAL = 1000.0
# Head origin 110 cm from the camera: the narrow face (about 20 cm tall, its front at z ~ +10 cm)
# then spans ~200 of the 240 pixels, like the paper's crops (faces under 200 px are discarded).
DEFAULT_DISTANCE = 110.0
DEFAULT_TRANSLATION = (0.0, 0.4, -DEFAULT_DISTANCE)  # +0.4 cm centres the narrow face vertically
DEFAULT_NEAR, DEFAULT_FAR = 10.0, 1000.0  # cm


@dataclasses.dataclass(frozen=True)
class Camera:
  """Pinhole camera intrinsics (shared by a batch).

  Attributes:
    image_size: (height, width) in pixels.
    focal: (fx, fy) in pixels.
    principal_point: (cx, cy) in pixels (y down); None = the image centre ((W - 1) / 2, (H - 1) / 2).
    near, far: clipping planes in cm (positive distances in front of the camera).
  """
  image_size: typing.Tuple[int, int] = DEFAULT_IMAGE_SIZE
  focal: typing.Tuple[float, float] = (DEFAULT_FOCAL, DEFAULT_FOCAL)
  principal_point: typing.Optional[typing.Tuple[float, float]] = None
  near: float = DEFAULT_NEAR
  far: float = DEFAULT_FAR

  @property
  def height(self) -> int:
    return int(self.image_size[0])

  @property
  def width(self) -> int:
    return int(self.image_size[1])

  @property
  def centre(self) -> typing.Tuple[float, float]:
    if self.principal_point is not None:
      return float(self.principal_point[0]), float(self.principal_point[1])
    return (self.width - 1) / 2.0, (self.height - 1) / 2.0

  @classmethod
  def for_image_size(cls, height: int, width: int, **kwargs) -> 'Camera':
    """A camera whose default focal scales with the image (same field of view as 1000 px at 240)."""
    kwargs.setdefault('focal', (DEFAULT_FOCAL * height / float(config.IMAGE_SIZE),) * 2)
    return cls(image_size=(height, width), **kwargs)


def euler_to_rotation(angles: tf.Tensor) -> tf.Tensor:
  """Rotation matrices from Euler angles.

  Args:
    angles: [B, 3] (pitch, yaw, roll) in radians (any leading axes: [..., 3]).

  Returns:
    [B, 3, 3] R = Rz(roll) Ry(yaw) Rx(pitch).

  Raises:
    ValueError: when the last axis of ``angles`` is not 3.
  """
  angles = shape_checks.ShapeChecker('euler_to_rotation')('angles', angles, ('...', 3))
  cx, cy, cz = tf.unstack(tf.cos(angles), axis=-1)
  sx, sy, sz = tf.unstack(tf.sin(angles), axis=-1)
  one, zero = tf.ones_like(cx), tf.zeros_like(cx)
  rx = tf.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1)
  ry = tf.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1)
  rz = tf.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1)
  shape = tf.concat([tf.shape(angles)[:-1], [3, 3]], 0)
  rx, ry, rz = (tf.reshape(m, shape) for m in (rx, ry, rz))
  return rz @ ry @ rx


def default_pose(batch_size: int = 1) -> typing.Tuple[tf.Tensor, tf.Tensor]:
  """Frontal pose: zero angles [B, 3] and ``DEFAULT_TRANSLATION`` [B, 3] (cm)."""
  return (tf.zeros([batch_size, 3]),
          tf.tile(tf.constant([DEFAULT_TRANSLATION], tf.float32), [batch_size, 1]))


def rigid_transform(vertices: tf.Tensor, rotation: tf.Tensor, translation: tf.Tensor) -> tf.Tensor:
  """phi(v) = R v + t for [B, N, 3] vertices, [B, 3, 3] rotations, [B, 3] translations (cm).

  Raises:
    ValueError: on wrong ranks, a last axis other than 3, or batch sizes that differ.
  """
  check = shape_checks.ShapeChecker('rigid_transform')
  vertices = check('vertices', vertices, ('B', None, 3))
  rotation = check('rotation', rotation, ('B', 3, 3))
  translation = check('translation', translation, ('B', 3))
  return tf.matmul(vertices, rotation, transpose_b=True) + translation[:, tf.newaxis, :]


def project(points: tf.Tensor, camera: Camera) -> tf.Tensor:
  """Perspective projection pi of camera-space points [B, N, 3] (cm) to pixels [B, N, 2] (x, y down).

  ``pi(x, y, z) = (cx + fx x / d, cy - fy y / d)`` with the depth ``d = -z`` (positive in front).

  Raises:
    ValueError: when ``points`` is not [B, N, 3].
  """
  points = shape_checks.ShapeChecker('project')('points', points, (None, None, 3))
  fx, fy = camera.focal
  cx, cy = camera.centre
  x, y, z = tf.unstack(points, axis=-1)
  depth = -z  # positive in front of the camera
  return tf.stack([cx + fx * x / depth, cy - fy * y / depth], -1)


def clip_matrix(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
  """The affine map of ``to_clip``: clip = points @ A + c, A float32 [3, 4], c float32 [4].

  With ``w_c = -z``: ``x_c = (2 fx / W) x + (2 (cx + 0.5) / W - 1) w_c``,
  ``y_c = (2 fy / H) y + (1 - 2 (cy + 0.5) / H) w_c``, ``z_c = -(f + n) / (f - n) z - 2 f n / (f - n)``.
  """
  fx, fy = camera.focal
  cx, cy = camera.centre
  h, w = camera.height, camera.width
  n, f = camera.near, camera.far
  a = np.zeros((3, 4), np.float64)
  a[0, 0] = 2.0 * fx / w
  a[1, 1] = 2.0 * fy / h
  a[2] = [-(2.0 * (cx + 0.5) / w - 1.0), -(1.0 - 2.0 * (cy + 0.5) / h), -(f + n) / (f - n), -1.0]
  c = np.array([0.0, 0.0, -2.0 * f * n / (f - n), 0.0])
  return a.astype(np.float32), c.astype(np.float32)


def to_clip(points: tf.Tensor, camera: Camera) -> tf.Tensor:
  """Camera-space points [B, N, 3] (cm) to the rasterizer's clip space [B, N, 4].

  Consistent with ``project``: the op's pixel (ix, iy) centre is at NDC
  ``((ix + 0.5) 2 / W - 1, 1 - (iy + 0.5) 2 / H)`` and ``project`` maps to pixel centres at integers.
  Depth uses the OpenGL perspective mapping of [near, far] to NDC z in [-1, 1]. The map is affine
  (``clip_matrix``), computed as one matrix product.

  Raises:
    ValueError: when ``points`` is not [B, N, 3].
  """
  points = shape_checks.ShapeChecker('to_clip')('points', points, (None, None, 3))
  a, c = clip_matrix(camera)
  return tf.matmul(points, a) + c


def degrees(*angles: float) -> typing.List[float]:
  """Degrees to radians, for readable pose literals."""
  return [math.radians(a) for a in angles]
