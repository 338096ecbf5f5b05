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
from model import shape_checks

Pose = typing.Tuple[tf.Tensor, tf.Tensor]  # (angles [B, 3] rad (pitch, yaw, roll), translation [B, 3] cm)


@dataclasses.dataclass(frozen=True)
class TriangleIncidence:
  """Which vertex sits at each triangle corner, and which corners each vertex has, as gather indices.

  The two linear maps between per-vertex and per-corner values are transposes of each other:
  ``gather(x, corner_vertices)`` (vertex -> corner) and ``padded_sum(y, vertex_corners)`` (corner ->
  vertex). Writing the gradient of each as the other keeps normals off ``unsorted_segment_sum``, whose
  CPU kernel and gradient (a gather behind a select) dominated the normals' cost.

  Attributes:
    corner_vertices: int32 [3T] vertex of corner ``k T + t`` (corner k of triangle t; corner-major).
    vertex_corners: int32 [N, K] the corners of each vertex (K = the largest valence), padded with 3T
      (an extra zero row appended before gathering).
    vertex_triangles: int32 [N, K] the triangles of each vertex, padded with T.
  """
  corner_vertices: tf.Tensor
  vertex_corners: tf.Tensor
  vertex_triangles: tf.Tensor

  @property
  def num_triangles(self) -> int:
    return int(self.corner_vertices.shape[0]) // 3

  @classmethod
  def from_triangles(cls, triangles: np.ndarray, num_vertices: int) -> 'TriangleIncidence':
    """Builds the indices of int [T, 3] triangles over ``num_vertices`` vertices."""
    triangles = np.asarray(triangles, np.int64)
    if triangles.ndim != 2 or triangles.shape[1] != 3:
      raise ValueError(f'triangles must be [T, 3], got shape {list(triangles.shape)}')
    if triangles.size and (triangles.min() < 0 or triangles.max() >= num_vertices):
      raise ValueError(f'triangle indices must be in [0, {num_vertices}), got '
                       f'[{triangles.min()}, {triangles.max()}]')
    num_triangles = len(triangles)
    corners = triangles.T.reshape(-1)  # corner-major: corner k T + t
    valence = np.bincount(corners, minlength=num_vertices)
    order = np.argsort(corners, kind='stable')  # corners grouped by vertex
    slot = np.arange(len(corners)) - np.repeat(np.cumsum(valence) - valence, valence)
    vertex_corners = np.full((num_vertices, max(int(valence.max(initial=0)), 1)), 3 * num_triangles,
                             np.int32)
    vertex_corners[corners[order], slot] = order
    vertex_triangles = np.where(vertex_corners == 3 * num_triangles, num_triangles,
                                vertex_corners % max(num_triangles, 1))
    return cls(corner_vertices=tf.constant(corners.astype(np.int32)),
               vertex_corners=tf.constant(vertex_corners),
               vertex_triangles=tf.constant(vertex_triangles.astype(np.int32)))


def _padded_sum(values: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
  """out[i] = sum_k values[index[i, k]] over [M, ...] values; index M means a zero row (padding)."""
  values = tf.concat([values, tf.zeros_like(values[:1])], 0)
  return tf.reduce_sum(tf.gather(values, index), 1)


def _corner_values(values: tf.Tensor, incidence: TriangleIncidence) -> tf.Tensor:
  """[N, ...] per-vertex values -> [3, T, ...] per corner (gradient: a padded gather, no segment sum)."""

  @tf.custom_gradient
  def gather(x):
    def grad(dy):
      with tf.name_scope('corner_values_grad'):
        return _padded_sum(dy, incidence.vertex_corners)
    return tf.gather(x, incidence.corner_vertices), grad

  out = gather(values)
  return tf.reshape(out, tf.concat([[3, incidence.num_triangles], tf.shape(values)[1:]], 0))


def _triangle_sums(values: tf.Tensor, incidence: TriangleIncidence) -> tf.Tensor:
  """[T, ...] per-triangle values -> [N, ...]: each vertex's sum over its triangles (and its transpose)."""

  @tf.custom_gradient
  def gather_sum(y):
    def grad(dn):
      with tf.name_scope('triangle_sums_grad'):
        return tf.reduce_sum(_corner_values(dn, incidence), 0)
    return _padded_sum(y, incidence.vertex_triangles), grad

  return gather_sum(values)


def vertex_normals(vertices: tf.Tensor, triangles: tf.Tensor, eps: float = 1e-12,
                   incidence: typing.Optional[TriangleIncidence] = None) -> tf.Tensor:
  """Area-weighted unit vertex normals (differentiable).

  The unnormalized triangle normal (e1 x e2) has length twice the triangle area, so summing it over a
  vertex's triangles weights each by its area. Counter-clockwise triangles give outward normals.
  Computed as gathers in a component-major layout [N, 3, B] (see ``TriangleIncidence``);
  ``vertex_normals_reference`` is the same function through ``unsorted_segment_sum``.

  Args:
    vertices: [B, N, 3].
    triangles: int32 [T, 3].
    eps: guards the normalization; vertices in no triangle get a zero normal.
    incidence: the ``TriangleIncidence`` of ``triangles`` (``RenderMesh.incidence``); None builds it,
      which needs ``triangles`` known at trace time (else the reference version runs).

  Returns:
    [B, N, 3].

  Raises:
    ValueError: on wrong ranks or sizes.
  """
  check = shape_checks.ShapeChecker('vertex_normals')
  vertices = check('vertices', vertices, (None, 'N', 3))
  triangles = check('triangles', triangles, (None, 3), tf.int32)
  if incidence is None:
    static = tf.get_static_value(triangles)
    num_vertices = vertices.shape[1]
    if static is None or num_vertices is None:
      return vertex_normals_reference(vertices, triangles, eps)
    incidence = TriangleIncidence.from_triangles(static, num_vertices)
  v = tf.transpose(vertices, [1, 2, 0])  # [N, 3, B]: rows gathered whole, components as slices
  a, b, c = tf.unstack(_corner_values(v, incidence))  # [T, 3, B] each
  x1, y1, z1 = tf.unstack(b - a, axis=1)
  x2, y2, z2 = tf.unstack(c - a, axis=1)
  face = tf.stack([y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2], 1)  # e1 x e2, [T, 3, B]
  summed = _triangle_sums(face, incidence)  # [N, 3, B]
  normals = summed * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(summed), 1, keepdims=True), eps))
  return tf.transpose(normals, [2, 0, 1])


def vertex_normals_reference(vertices: tf.Tensor, triangles: tf.Tensor, eps: float = 1e-12) -> tf.Tensor:
  """``vertex_normals`` written directly with ``unsorted_segment_sum`` (slower; tests and benchmark)."""
  v = tf.transpose(vertices, [1, 0, 2])  # [N, B, 3]: segment ops reduce the leading axis
  a, b, c = (tf.gather(v, triangles[:, k]) for k in range(3))
  face = tf.linalg.cross(b - a, c - a)  # [T, B, 3]
  summed = tf.math.unsorted_segment_sum(
      tf.concat([face, face, face], 0), tf.concat([triangles[:, 0], triangles[:, 1], triangles[:, 2]], 0),
      num_segments=tf.shape(v)[0])
  normals = summed * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(summed), -1, keepdims=True), eps))
  return tf.transpose(normals, [1, 0, 2])


@dataclasses.dataclass(frozen=True)
class RenderMesh:
  """Topology and semantics of the rendered mesh, as tensors.

  Attributes:
    triangles: int32 [T, 3].
    triangle_regions: int32 [T] (0 skin, 1 upper lip, 2 lower lip).
    landmarks: int32 [68] static landmark vertices (iBUG order).
    jaw_candidates: int32 [17, K].
    jaw_sides: float32 [17].
    incidence: gather indices for the normals (``TriangleIncidence``); None = built on each call.
  """
  triangles: tf.Tensor
  triangle_regions: tf.Tensor
  landmarks: tf.Tensor
  jaw_candidates: tf.Tensor
  jaw_sides: tf.Tensor
  incidence: typing.Optional[TriangleIncidence] = None

  @classmethod
  def from_template(cls, template) -> 'RenderMesh':
    """Builds it from a ``model.template.Template`` (or anything with vertices/triangles/semantics)."""
    sem = template.semantics
    return cls(
        triangles=tf.constant(np.asarray(template.triangles, np.int32)),
        triangle_regions=tf.constant(np.asarray(sem.triangle_regions, np.int32)),
        landmarks=tf.constant(np.asarray(sem.landmarks, np.int32)),
        jaw_candidates=tf.constant(np.asarray(sem.jaw_candidates, np.int32)),
        jaw_sides=tf.constant(landmarks_lib.jaw_sides(np.asarray(template.vertices), sem)),
        incidence=TriangleIncidence.from_triangles(template.triangles, len(template.vertices)))


def pose_to_rotation_translation(pose) -> typing.Tuple[tf.Tensor, tf.Tensor]:
  """Accepts (angles [B, 3], translation [B, 3]) or a [B, 6] tensor (angles then translation).

  Raises:
    ValueError: on other shapes, or batch sizes that differ.
  """
  check = shape_checks.ShapeChecker('pose')
  if isinstance(pose, (tuple, list)):
    if len(pose) != 2:
      raise ValueError(f'pose: expected (angles [B, 3], translation [B, 3]) or a [B, 6] tensor, got a '
                       f'{type(pose).__name__} of {len(pose)} items')
    angles, translation = pose
  else:
    angles, translation = tf.split(check('pose', pose, ('B', 6)), 2, axis=1)
  angles = check('angles', angles, ('B', 3))
  translation = check('translation', translation, ('B', 3))
  return camera_lib.euler_to_rotation(angles), translation


def render(vertices: tf.Tensor, albedo: tf.Tensor, pose, sh: tf.Tensor,
           camera: typing.Optional[camera_lib.Camera], mesh: RenderMesh,
           background: typing.Optional[tf.Tensor] = None) -> dict[str, tf.Tensor]:
  """Renders a batch of faces (ops named under 'render/').

  Args:
    vertices: [B, N, 3] model-space geometry, cm.
    albedo: [B, N, 3] per-vertex reflectance in [0, 1].
    pose: rigid pose phi: (angles [B, 3] radians (pitch, yaw, roll), translation [B, 3] cm), or a
      [B, 6] tensor of both. ``model.camera.default_pose(B)`` gives the frontal default.
    sh: [B, 9, 3] SH illumination gamma (``model.lighting``; ``ambient_sh`` = flat light).
    camera: intrinsics; None for ``Camera()`` (240 x 240, focal 1000 px, centred principal point).
    mesh: ``RenderMesh`` (topology, regions, landmarks).
    background: optional [B, H, W, 3] (or broadcastable) image behind the face; default black.

  Only static shapes are checked (free inside a ``tf.function``). In a traced function, outputs that
  the caller does not use are not computed (each interpolated image is its own op).

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

  Raises:
    ValueError: on wrong ranks or sizes of the inputs (the message names the argument, the expected
      and the received shape).
    TypeError: when ``camera`` or ``mesh`` is not of the documented type.
  """
  with tf.name_scope('render'):
    return _render(vertices, albedo, pose, sh, camera, mesh, background)


def project_landmarks(cam_v: tf.Tensor, rotation: tf.Tensor, camera: camera_lib.Camera,
                      mesh: RenderMesh) -> tuple[tf.Tensor, tf.Tensor]:
  """The 68 landmarks (dynamic jaw) of camera-space vertices.

  Projects only the vertices it needs (the jaw candidates, then the chosen 68), so that a caller that
  needs no full projection computes none.

  Args:
    cam_v: [B, N, 3] camera-space vertices, cm.
    rotation: [B, 3, 3] head rotation (model to camera; picks the jaw side).
    camera: intrinsics.
    mesh: the ``RenderMesh`` (landmarks, jaw candidates).

  Returns:
    (landmarks2d [B, 68, 2] pixels, landmark vertex indices int32 [B, 68]).
  """
  candidate_points = tf.reshape(
      camera_lib.project(tf.gather(tf.stop_gradient(cam_v), tf.reshape(mesh.jaw_candidates, [-1]), axis=1),
                         camera),
      tf.concat([tf.shape(cam_v)[:1], tf.shape(mesh.jaw_candidates), [2]], 0))
  lm_vertices = landmarks_lib.landmark_vertices_from_candidates(
      candidate_points, rotation, mesh.landmarks, mesh.jaw_candidates, mesh.jaw_sides)
  return camera_lib.project(tf.gather(cam_v, lm_vertices, axis=1, batch_dims=1), camera), lm_vertices


def shade_vertices(vertices: tf.Tensor, albedo: tf.Tensor, rotation: tf.Tensor, translation: tf.Tensor,
                   sh: tf.Tensor, camera: camera_lib.Camera, mesh: RenderMesh,
                   fused: typing.Optional[bool] = None) -> typing.Tuple[tf.Tensor, ...]:
  """The per-vertex half of image formation: pose, normals, SH shading (Eq. 4), clip coordinates.

  Args:
    vertices: [B, N, 3] model-space geometry, cm.
    albedo: [B, N, 3] reflectance.
    rotation: [B, 3, 3]; translation: [B, 3] cm.
    sh: [B, 9, 3] SH coefficients.
    camera: intrinsics.
    mesh: the ``RenderMesh``.
    fused: True: the fused CPU op ``tf_ops.shade_vertices``; False: plain TensorFlow
      (``camera.rigid_transform``, ``vertex_normals``, ``lighting.shading``, ``camera.to_clip``);
      None: ``tf_ops.fused_ops_enabled()`` decides (fused on a CPU, plain where a GPU is visible). Both
      give the same values and gradients to float32 rounding.

  Returns:
    (camera_vertices, normals, irradiance, colors) [B, N, 3] each and clip coordinates [B, N, 4].
  """
  if fused is None:
    fused = tf_ops.fused_ops_enabled()
  if fused:
    a, c = camera_lib.clip_matrix(camera)
    return tuple(tf_ops.shade_vertices(vertices, albedo, rotation, translation, sh, mesh.triangles,
                                       np.concatenate([a, c[np.newaxis]], 0)))
  cam_v = camera_lib.rigid_transform(vertices, rotation, translation)
  normals = vertex_normals(cam_v, mesh.triangles, incidence=mesh.incidence)
  irradiance = lighting.shading(normals, sh)
  return cam_v, normals, irradiance, albedo * irradiance, camera_lib.to_clip(cam_v, camera)


def _render(vertices, albedo, pose, sh, camera, mesh, background) -> dict[str, tf.Tensor]:
  camera = camera or camera_lib.Camera()
  if not isinstance(camera, camera_lib.Camera):
    raise TypeError(f'render: camera must be a model.camera.Camera or None, got {type(camera).__name__}')
  if not isinstance(mesh, RenderMesh):
    raise TypeError(f'render: mesh must be an image_formation.RenderMesh, got {type(mesh).__name__}')
  check = shape_checks.ShapeChecker('render')
  vertices = check('vertices', vertices, ('B', 'N', 3))
  albedo = check('albedo', albedo, ('B', 'N', 3))
  sh = check('sh', sh, ('B', lighting.NUM_SH_COEFFICIENTS, 3))
  rotation, translation = pose_to_rotation_translation(pose)
  check('rotation (from pose)', rotation, ('B', 3, 3))
  cam_v, normals, irradiance, colors, clip = shade_vertices(vertices, albedo, rotation, translation, sh,
                                                            camera, mesh)
  raster = tf_ops.rasterize(clip, mesh.triangles, camera.image_size)

  def interpolate(attributes):  # one call per output: a tf.function runs only the ones it uses
    return tf_ops.interpolate(attributes, raster.triangle_ids, raster.barycentrics, mesh.triangles)

  covered = raster.triangle_ids >= 0
  mask = tf.cast(covered, tf.float32)[..., tf.newaxis]
  image = interpolate(colors)
  if background is not None:
    background = tf.convert_to_tensor(background, tf.float32)
    try:
      tf.broadcast_static_shape(background.shape, image.shape)
    except ValueError:
      raise ValueError(f'render: background must broadcast to the image shape {image.shape.as_list()} '
                       f'([B, H, W, 3]), got {background.shape.as_list()}') from None
    image = image + (1.0 - mask) * background
  regions = tf.where(covered, tf.gather(mesh.triangle_regions, tf.maximum(raster.triangle_ids, 0)), -1)
  lip_masks = tf.cast(tf.stack([tf.equal(regions, semantics_lib.REGION_UPPER_LIP),
                                tf.equal(regions, semantics_lib.REGION_LOWER_LIP)], -1), tf.float32)
  landmarks2d, lm_vertices = project_landmarks(cam_v, rotation, camera, mesh)
  return {
      'image': image, 'mask': mask, 'regions': regions, 'lip_masks': lip_masks,
      'landmarks2d': landmarks2d, 'landmark_vertices': lm_vertices,
      'projected': camera_lib.project(cam_v, camera),
      'camera_vertices': cam_v, 'normals': normals, 'vertex_colors': colors,
      'albedo_image': interpolate(albedo), 'shading_image': interpolate(irradiance),
      'triangle_ids': raster.triangle_ids, 'barycentrics': raster.barycentrics, 'depth': raster.depth,
  }


def inner_lip_contour_pixels(regions: tf.Tensor) -> tf.Tensor:
  """Inner lip contour pixels from a region map.

  Args:
    regions: int32 [B, H, W] (-1 background, 0 skin, 1 upper lip, 2 lower lip).

  Returns:
    float32 [B, H, W, 2]: 1 on upper-lip pixels with a 4-neighbour that is background or lower lip
    (channel 0), and on lower-lip pixels with a 4-neighbour that is background or upper lip (channel 1).
  """
  up, lo = semantics_lib.REGION_UPPER_LIP, semantics_lib.REGION_LOWER_LIP
  padded = tf.pad(regions, [[0, 0], [1, 1], [1, 1]], constant_values=0)  # outside the image: skin
  neighbours = [padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]]

  def touches(values):
    return tf.reduce_any(tf.stack([tf.reduce_any(tf.stack([tf.equal(n, v) for v in values], 0), 0)
                                   for n in neighbours], 0), 0)

  upper = tf.logical_and(tf.equal(regions, up), touches((-1, lo)))
  lower = tf.logical_and(tf.equal(regions, lo), touches((-1, up)))
  return tf.cast(tf.stack([upper, lower], -1), tf.float32)
