"""Image formation (paper Sec. 3.2): pose, perspective camera, SH shading, rasterization.

Main entry point::

    out = render(vertices, albedo, pose, sh, camera, mesh)

with ``mesh = RenderMesh.from_template(template)`` (built once; holds topology and semantics as
tensors). Per-vertex colours are shaded (Lambertian, 9 SH coefficients per channel) and interpolated
with perspective-correct barycentrics by the ``tf_ops`` rasterizer, as in the paper; everything is
differentiable except visibility (triangle ids) and the discrete jaw-candidate choice.

Units and conventions: vertices in cm (template/model space, face towards +z); camera space OpenGL
(camera looks down -z); pixel coordinates x right, y down, pixel centres at integers
(see ``model.camera``). Images are float32 in [0, 1] where albedo * shading is (not clipped).
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import tensorflow as tf

import tf_ops
from model import camera as camera_lib
from model import landmarks as landmarks_lib
from model import lighting
from model import semantics as semantics_lib

Pose = typing.Tuple[tf.Tensor, tf.Tensor]  # (angles [B, 3] rad (pitch, yaw, roll), translation [B, 3] cm)


@dataclasses.dataclass(frozen=True)
class RenderMesh:
  """Topology and semantics of the rendered mesh, as tensors.

  Attributes:
    triangles: int32 [T, 3].
    triangle_regions: int32 [T] (0 skin, 1 upper lip, 2 lower lip).
    landmarks: int32 [68] static landmark vertices (iBUG order).
    jaw_candidates: int32 [17, K].
    jaw_sides: float32 [17].
  """
  triangles: tf.Tensor
  triangle_regions: tf.Tensor
  landmarks: tf.Tensor
  jaw_candidates: tf.Tensor
  jaw_sides: tf.Tensor

  @classmethod
  def from_template(cls, template) -> 'RenderMesh':
    """Builds it from a ``model.template.Template`` (or anything with vertices/triangles/semantics)."""
    sem = template.semantics
    return cls(
        triangles=tf.constant(np.asarray(template.triangles, np.int32)),
        triangle_regions=tf.constant(np.asarray(sem.triangle_regions, np.int32)),
        landmarks=tf.constant(np.asarray(sem.landmarks, np.int32)),
        jaw_candidates=tf.constant(np.asarray(sem.jaw_candidates, np.int32)),
        jaw_sides=tf.constant(landmarks_lib.jaw_sides(np.asarray(template.vertices), sem)))


def vertex_normals(vertices: tf.Tensor, triangles: tf.Tensor, eps: float = 1e-12) -> tf.Tensor:
  """Area-weighted unit vertex normals (differentiable).

  The unnormalized triangle normal (e1 x e2) has length twice the triangle area, so summing it over a
  vertex's triangles weights each by its area. Counter-clockwise triangles give outward normals.

  Args:
    vertices: [B, N, 3].
    triangles: int32 [T, 3].
    eps: guards the normalization; vertices in no triangle get a zero normal.

  Returns:
    [B, N, 3].
  """
  v = tf.transpose(vertices, [1, 0, 2])  # [N, B, 3]: segment ops reduce the leading axis
  a, b, c = (tf.gather(v, triangles[:, k]) for k in range(3))
  face = tf.linalg.cross(b - a, c - a)  # [T, B, 3]
  summed = tf.math.unsorted_segment_sum(
      tf.concat([face, face, face], 0), tf.concat([triangles[:, 0], triangles[:, 1], triangles[:, 2]], 0),
      num_segments=tf.shape(v)[0])
  normals = summed * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(summed), -1, keepdims=True), eps))
  return tf.transpose(normals, [1, 0, 2])


def pose_to_rotation_translation(pose) -> typing.Tuple[tf.Tensor, tf.Tensor]:
  """Accepts (angles [B, 3], translation [B, 3]) or a [B, 6] tensor (angles then translation)."""
  if isinstance(pose, (tuple, list)):
    angles, translation = pose
  else:
    pose = tf.convert_to_tensor(pose, tf.float32)
    angles, translation = pose[:, :3], pose[:, 3:]
  return (camera_lib.euler_to_rotation(angles), tf.convert_to_tensor(translation, tf.float32))


def render(vertices: tf.Tensor, albedo: tf.Tensor, pose, sh: tf.Tensor,
           camera: typing.Optional[camera_lib.Camera], mesh: RenderMesh,
           background: typing.Optional[tf.Tensor] = None) -> dict[str, tf.Tensor]:
  """Renders a batch of faces.

  Args:
    vertices: [B, N, 3] model-space geometry, cm.
    albedo: [B, N, 3] per-vertex reflectance in [0, 1].
    pose: rigid pose phi: (angles [B, 3] radians (pitch, yaw, roll), translation [B, 3] cm), or a
      [B, 6] tensor of both. ``model.camera.default_pose(B)`` gives the frontal default.
    sh: [B, 9, 3] SH illumination gamma (``model.lighting``; ``ambient_sh`` = flat light).
    camera: intrinsics; None for ``Camera()`` (240 x 240, focal 1000 px, centred principal point).
    mesh: ``RenderMesh`` (topology, regions, landmarks).
    background: optional [B, H, W, 3] (or broadcastable) image behind the face; default black.

  Returns:
    A dict of:
      image: [B, H, W, 3] rendered image S (face composited over the background).
      mask: [B, H, W, 1] float32 face mask M (1 where a triangle is visible).
      regions: int32 [B, H, W] -1 background, 0 skin, 1 upper lip, 2 lower lip.
      lip_masks: [B, H, W, 2] float32 upper / lower lip masks.
      landmarks2d: [B, 68, 2] projected landmarks in pixels (x right, y down; dynamic jaw 0-16).
      landmark_vertices: int32 [B, 68] the vertices used for the landmarks.
      projected: [B, N, 2] all projected vertices, pixels.
      camera_vertices: [B, N, 3] phi(v), camera space, cm.
      normals: [B, N, 3] unit normals, camera space.
      vertex_colors: [B, N, 3] shaded per-vertex colours c (Eq. 4).
      albedo_image: [B, H, W, 3] interpolated albedo (black background).
      shading_image: [B, H, W, 3] interpolated irradiance.
      triangle_ids, barycentrics, depth: the rasterizer outputs.
  """
  camera = camera or camera_lib.Camera()
  vertices = tf.convert_to_tensor(vertices, tf.float32)
  albedo = tf.convert_to_tensor(albedo, tf.float32)
  rotation, translation = pose_to_rotation_translation(pose)
  cam_v = camera_lib.rigid_transform(vertices, rotation, translation)
  normals = vertex_normals(cam_v, mesh.triangles)
  irradiance = lighting.shading(normals, sh)
  colors = albedo * irradiance
  clip = camera_lib.to_clip(cam_v, camera)
  raster = tf_ops.rasterize(clip, mesh.triangles, camera.image_size)
  attrs = tf.concat([colors, albedo, irradiance], -1)
  interp = tf_ops.interpolate(attrs, raster.triangle_ids, raster.barycentrics, mesh.triangles)
  covered = raster.triangle_ids >= 0
  mask = tf.cast(covered, tf.float32)[..., tf.newaxis]
  image = interp[..., :3]
  if background is not None:
    image = image + (1.0 - mask) * tf.convert_to_tensor(background, tf.float32)
  regions = tf.where(covered, tf.gather(mesh.triangle_regions, tf.maximum(raster.triangle_ids, 0)), -1)
  lip_masks = tf.cast(tf.stack([tf.equal(regions, semantics_lib.REGION_UPPER_LIP),
                                tf.equal(regions, semantics_lib.REGION_LOWER_LIP)], -1), tf.float32)
  projected = camera_lib.project(cam_v, camera)
  lm_vertices = landmarks_lib.select_landmark_vertices(
      projected, rotation, mesh.landmarks, mesh.jaw_candidates, mesh.jaw_sides)
  landmarks2d = tf.gather(projected, lm_vertices, axis=1, batch_dims=1)
  return {
      'image': image, 'mask': mask, 'regions': regions, 'lip_masks': lip_masks,
      'landmarks2d': landmarks2d, 'landmark_vertices': lm_vertices, 'projected': projected,
      'camera_vertices': cam_v, 'normals': normals, 'vertex_colors': colors,
      'albedo_image': interp[..., 3:6], 'shading_image': interp[..., 6:9],
      'triangle_ids': raster.triangle_ids, 'barycentrics': raster.barycentrics, 'depth': raster.depth,
  }
