"""Rendering synthetic faces with the model's image formation, and turning renders into ``schema.Frame``s.

Renders use ``model.image_formation.render`` (rigid pose, perspective camera, Lambertian SH shading, the
``tf_ops`` rasterizer). Landmarks are the projected template landmarks, lip masks the rendered lip regions,
the outer lip contours the projected mesh loops resampled to ``CONTOUR_POINTS`` points (no occlusion test),
the inner ones the visible boundary of the rendered lips facing the mouth (``data.lips.inner_contour_points``
of ``model.image_formation.inner_lip_contour_pixels``; the mouth-opening loop of the mesh lies behind the
lips when the mouth is closed).
"""

from __future__ import annotations

import numpy as np

from data import lips
from data import schema
from data.synthetic import config as config_lib
from data.synthetic import face_space as face_space_lib
from data.synthetic import sampling
from model import config as model_config


def render_batch(space: face_space_lib.FaceSpace, vertices, albedo, angles, translation, sh, backgrounds,
                 size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Renders B faces.

  Args:
    space: the face space (mesh topology and regions).
    vertices: float32 [B, N, 3] cm.
    albedo: float32 [B, N, 3].
    angles, translation: float32 [B, 3] pose (radians, cm).
    sh: float32 [B, 9, 3].
    backgrounds: float32 [B, size, size, 3] in [0, 1].
    size: image side (pixels).

  Returns:
    uint8 images [B, size, size, 3], float landmarks [B, 68, 2] (pixels), uint8 lip labels [B, size, size]
    (1 upper, 2 lower, 0 else), projected vertices [B, N, 2] (pixels) and the inner lip contour pixels
    float32 {0, 1} [B, size, size, 2] (upper, lower).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import camera as camera_lib  # pylint: disable=g-import-not-at-top
  from model import image_formation  # pylint: disable=g-import-not-at-top
  cam = camera_lib.Camera.for_image_size(size, size)
  out = image_formation.render(tf.constant(vertices), tf.constant(albedo),
                               (tf.constant(angles), tf.constant(translation)), tf.constant(sh), cam,
                               space.mesh, background=tf.constant(backgrounds))
  image = np.clip(np.round(out['image'].numpy() * 255.0), 0, 255).astype(np.uint8)
  regions = out['regions'].numpy()
  labels = np.where(regions == 1, 1, np.where(regions == 2, 2, 0)).astype(np.uint8)
  inner = image_formation.inner_lip_contour_pixels(out['regions']).numpy()
  return image, out['landmarks2d'].numpy(), labels, out['projected'].numpy(), inner


def to_frames(space: face_space_lib.FaceSpace, images, landmarks, labels, projected,
              inner) -> list[schema.Frame]:
  """``schema.Frame`` per render of ``render_batch`` (at ``model.config.IMAGE_SIZE``): image, landmarks,
  lip mask and the four lip contours (upper outer, upper inner, lower outer, lower inner)."""
  frames = []
  for i in range(len(images)):
    pr = projected[i]
    outer = [lips.resample_polyline(pr[loop], config_lib.CONTOUR_POINTS)
             for loop in (space.upper_outer, space.lower_outer)]
    upper_inner, lower_inner = (lips.inner_contour_points(inner[i, ..., k]) for k in range(2))
    lower_inner = lower_inner[::-1]  # iBUG order: upper 60 -> 64, lower 64 -> 60
    frames.append(schema.Frame(image=images[i], landmarks=landmarks[i].astype(np.float32), lip_mask=labels[i],
                               lip_contours=[outer[0], upper_inner, outer[1], lower_inner],
                               frame_index=i, crop_box=(0.0, 0.0, float(model_config.IMAGE_SIZE))))
  return frames


def render_clip(space: face_space_lib.FaceSpace,
                params: sampling.ClipParameters) -> tuple[list[schema.Frame], np.ndarray]:
  """Renders the frames of a clip drawn by ``sampling.sample_clip`` (at ``model.config.IMAGE_SIZE``).

  Returns:
    The frames (as real data's records hold them) and float landmarks [F, 68, 2] (pixels).
  """
  f = len(params.vertices)
  images, lms, labels, projected, inner = render_batch(
      space, params.vertices, np.repeat(params.albedo[None], f, 0), params.angles, params.translation,
      params.sh, params.backgrounds, model_config.IMAGE_SIZE)
  return to_frames(space, images, lms, labels, projected, inner), lms
