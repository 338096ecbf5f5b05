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

import tensorflow as tf

from model import config

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
    angles: [B, 3] (pitch, yaw, roll) in radians.

  Returns:
    [B, 3, 3] R = Rz(roll) Ry(yaw) Rx(pitch).
  """
  angles = tf.convert_to_tensor(angles, tf.float32)
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
  """phi(v) = R v + t for [B, N, 3] vertices, [B, 3, 3] rotations, [B, 3] translations (cm)."""
  return tf.einsum('bij,bnj->bni', rotation, vertices) + translation[:, tf.newaxis, :]


def project(points: tf.Tensor, camera: Camera) -> tf.Tensor:
  """Perspective projection pi of camera-space points [B, N, 3] (cm) to pixels [B, N, 2] (x, y down)."""
  fx, fy = camera.focal
  cx, cy = camera.centre
  x, y, z = tf.unstack(points, axis=-1)
  depth = -z  # positive in front of the camera
  return tf.stack([cx + fx * x / depth, cy - fy * y / depth], -1)


def to_clip(points: tf.Tensor, camera: Camera) -> tf.Tensor:
  """Camera-space points [B, N, 3] (cm) to the rasterizer's clip space [B, N, 4].

  Consistent with ``project``: the op's pixel (ix, iy) centre is at NDC
  ``((ix + 0.5) 2 / W - 1, 1 - (iy + 0.5) 2 / H)`` and ``project`` maps to pixel centres at integers.
  Depth uses the OpenGL perspective mapping of [near, far] to NDC z in [-1, 1].
  """
  fx, fy = camera.focal
  cx, cy = camera.centre
  h, w = camera.height, camera.width
  n, f = camera.near, camera.far
  x, y, z = tf.unstack(points, axis=-1)
  wc = -z
  xc = (2.0 * fx / w) * x + (2.0 * (cx + 0.5) / w - 1.0) * wc
  yc = (2.0 * fy / h) * y + (1.0 - 2.0 * (cy + 0.5) / h) * wc
  zc = -(f + n) / (f - n) * z - 2.0 * f * n / (f - n)
  return tf.stack([xc, yc, zc, wc], -1)


def degrees(*angles: float) -> typing.List[float]:
  """Degrees to radians, for readable pose literals."""
  return [math.radians(a) for a in angles]
