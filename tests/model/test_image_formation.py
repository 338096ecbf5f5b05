import math

import numpy as np
import tensorflow as tf

from model import camera
from model import image_formation
from model import lighting
from model import semantics


def _render(template, mesh, angles=(0.0, 0.0, 0.0), sh=None, albedo=None, cam=None):
  v = tf.constant(template.vertices[None])
  if albedo is None:
    albedo = np.full((1, template.num_vertices, 3), 0.6, np.float32)
  sh = lighting.ambient_sh(1.0) if sh is None else sh
  pose = (tf.constant([angles], tf.float32), camera.default_pose(1)[1])
  return image_formation.render(v, tf.constant(albedo), pose, sh, cam, mesh)


def test_frontal_render_gives_a_face_shaped_mask_with_all_landmarks_inside(template, mesh):
  r = _render(template, mesh)
  mask = r['mask'][0, ..., 0].numpy() > 0
  ys, xs = np.nonzero(mask)
  height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
  assert 150 < height < 235 and 110 < width < height  # taller than wide, fills most of the crop
  assert abs((xs.min() + xs.max()) / 2 - 119.5) < 3  # centred and left/right symmetric
  assert (mask == mask[:, ::-1]).mean() > 0.97
  # Narrower at the chin than at the cheeks.
  row_width = mask.sum(1)
  assert row_width[ys.max() - 10] < 0.6 * row_width[(ys.min() + ys.max()) // 2]
  # Open eyes and mouth are holes inside the face.
  assert (~mask[ys.min():ys.max(), xs.min():xs.max()]).sum() > 0
  lm = r['landmarks2d'][0].numpy()
  assert lm.shape == (68, 2)
  px = np.clip(np.round(lm).astype(int), 0, 239)
  eroded = mask.copy()
  # Landmarks may lie on hole rims (eyes, inner lips): accept a 2-pixel neighbourhood.
  near = np.zeros_like(mask)
  for dy in range(-2, 3):
    for dx in range(-2, 3):
      near |= np.roll(np.roll(eroded, dy, 0), dx, 1)
  assert near[px[:, 1], px[:, 0]].all()
  # iBUG order sanity: jaw 0 on the image left, 16 on the right; nose tip 30 below the eyes.
  assert lm[0, 0] < lm[8, 0] < lm[16, 0]
  assert lm[30, 1] > lm[36:48, 1].mean()


def test_projection_matches_the_rasterizer_pixels(template, mesh):
  r = _render(template, mesh)
  ids = r['triangle_ids'][0].numpy()
  lm_vertex = int(template.landmarks[30])  # nose tip: visible, not on a rim
  x, y = np.round(r['landmarks2d'][0, 30].numpy()).astype(int)
  tri = template.triangles[ids[y, x]]
  assert ids[y, x] >= 0
  d = np.linalg.norm(template.vertices[tri] - template.vertices[lm_vertex], axis=1).min()
  assert d < 0.5  # the pixel under the projected vertex shows a triangle at (or next to) it


def test_sh_with_only_the_dc_term_renders_albedo_times_a_constant(template, mesh, rng):
  albedo = rng.uniform(0.2, 0.9, size=(1, template.num_vertices, 3)).astype(np.float32)
  sh = np.zeros((1, 9, 3), np.float32)
  sh[0, 0] = [0.7, 1.1, 0.9]
  r = _render(template, mesh, angles=(0.1, 0.3, 0.0), sh=sh, albedo=albedo)
  m = r['mask'][0, ..., 0].numpy() > 0
  const = np.asarray(sh[0, 0]) * lighting.H0_CONSTANT
  np.testing.assert_allclose(r['image'][0].numpy()[m], r['albedo_image'][0].numpy()[m] * const,
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(lighting.H0_CONSTANT, math.sqrt(math.pi) / 2, rtol=1e-6)


def test_front_faces_are_lit_normals_point_outwards(template, mesh):
  # Light from the camera: a convex-ish face seen frontally must be bright, and brightest where its
  # normals face the camera (normals point out of the face, towards +z at the nose tip).
  r = _render(template, mesh, sh=lighting.directional_sh([0, 0, 1], 1.0, 0.0))
  normals = r['normals'][0].numpy()
  assert normals[template.landmarks[30], 2] > 0.8  # nose tip
  assert normals[template.landmarks[8], 1] < 0  # chin faces down
  m = r['mask'][0, ..., 0].numpy() > 0
  shading = r['shading_image'][0, ..., 0].numpy()[m]
  assert np.median(shading) > 0.6
  assert (shading > 0.2).mean() > 0.9
  np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)


def test_vertex_normals_are_area_weighted():
  # Two triangles sharing vertex 0: one small in the xy plane, one large in the xz plane.
  v = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, -3], [3, 0, 0]]], np.float32)
  t = tf.constant([[0, 1, 2], [0, 3, 4]], tf.int32)
  n = image_formation.vertex_normals(tf.constant(v), t)[0].numpy()
  expected = np.array([0, 0, 0.5]) + np.array([0, -4.5, 0])  # (0,0,-3) x (3,0,0) = (0,-9,0)
  np.testing.assert_allclose(n[0], expected / np.linalg.norm(expected), atol=1e-6)


def test_sh_basis_is_orthonormal_and_directional_light_is_a_clamped_cosine():
  # Fibonacci sphere quadrature of the real SH basis.
  k = 20000
  i = np.arange(k) + 0.5
  z = 1 - 2 * i / k
  phi = math.pi * (1 + 5 ** 0.5) * i
  d = np.stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z], 1)
  y = lighting.real_sh_basis(d)
  gram = y.T @ y * (4 * math.pi / k)
  np.testing.assert_allclose(gram, np.eye(9), atol=2e-3)
  light = np.array([0.3, -0.2, 0.93])
  light /= np.linalg.norm(light)
  sh = lighting.directional_sh(light, intensity=1.0, ambient=0.0)
  e = lighting.shading(tf.constant(d[None], tf.float32), sh)[0, :, 0].numpy()
  cosine = np.maximum(d @ light, 0)
  assert np.abs(e - cosine).mean() < 0.05  # the 9-term approximation of max(0, n.l)
  assert np.corrcoef(e, cosine)[0, 1] > 0.98


def test_dynamic_jaw_landmark_moves_to_the_silhouette_when_the_head_turns(template, mesh):
  frontal = _render(template, mesh)
  turned = _render(template, mesh, angles=(0.0, math.radians(35), 0.0))
  lm_vertex = turned['landmark_vertices'][0].numpy()
  static = template.landmarks
  assert (frontal['landmark_vertices'][0].numpy() == static).all()
  # +yaw turns the model's -x side towards the camera and the +x side (jaw 9-16) away.
  assert (lm_vertex[:5] == static[:5]).all()
  moved = [j for j in range(11, 16) if lm_vertex[j] != static[j]]
  assert len(moved) >= 3
  mask = turned['mask'][0, ..., 0].numpy() > 0
  lm = turned['landmarks2d'][0].numpy()
  proj = turned['projected'][0].numpy()
  for j in moved:
    x, y = lm[j]
    row = mask[int(round(y))]
    silhouette_x = np.flatnonzero(row).max()  # right edge of the face on this row
    assert abs(x - silhouette_x) < 2.5, (j, x, silhouette_x)
    static_x = proj[static[j], 0]
    assert static_x < x - 1  # the annotated vertex is hidden behind the silhouette
  np.testing.assert_array_equal(lm_vertex[17:], static[17:])


def test_region_labels_mark_upper_and_lower_lips(template, mesh):
  r = _render(template, mesh)
  regions = r['regions'][0].numpy()
  mask = r['mask'][0, ..., 0].numpy() > 0
  assert ((regions >= 0) == mask).all()
  up = np.argwhere(regions == semantics.REGION_UPPER_LIP)
  lo = np.argwhere(regions == semantics.REGION_LOWER_LIP)
  assert len(up) > 50 and len(lo) > 50
  assert up[:, 0].mean() < lo[:, 0].mean()  # rows grow downwards
  lm = r['landmarks2d'][0].numpy()
  assert lm[50:53, 1].min() - 2 < up[:, 0].mean() < lm[62, 1] + 2
  np.testing.assert_array_equal(r['lip_masks'][0, ..., 0].numpy() > 0, regions == 1)


def test_camera_overrides_scale_the_image(template, mesh):
  small = _render(template, mesh, cam=camera.Camera.for_image_size(120, 120))
  assert small['image'].shape == (1, 120, 120, 3)
  big = _render(template, mesh)
  ratio = small['mask'].numpy().sum() / big['mask'].numpy().sum()
  assert 0.2 < ratio < 0.3
  shifted = _render(template, mesh, cam=camera.Camera(principal_point=(100.0, 119.5)))
  lm = shifted['landmarks2d'][0].numpy()
  np.testing.assert_allclose(lm[:, 0] + 19.5, big['landmarks2d'][0].numpy()[:, 0], atol=1e-3)


def test_background_is_composited_outside_the_mask(template, mesh):
  bg = tf.fill([1, 240, 240, 3], 0.25)
  v = tf.constant(template.vertices[None])
  r = image_formation.render(v, tf.fill([1, template.num_vertices, 3], 0.5), camera.default_pose(1),
                             lighting.ambient_sh(1.0), None, mesh, background=bg)
  m = r['mask'][0, ..., 0].numpy() > 0
  np.testing.assert_allclose(r['image'][0].numpy()[~m], 0.25)
  np.testing.assert_allclose(r['image'][0].numpy()[m], 0.5, atol=1e-5)
