import math

import numpy as np
import tensorflow as tf

from model import camera


def test_euler_rotations_are_proper_and_follow_the_documented_signs():
  angles = tf.constant([[0.3, -0.7, 1.1], [0.0, math.pi / 2, 0.0], [math.pi / 2, 0, 0],
                        [0, 0, math.pi / 2]], tf.float32)
  r = camera.euler_to_rotation(angles).numpy()
  np.testing.assert_allclose(r @ np.transpose(r, (0, 2, 1)), np.broadcast_to(np.eye(3), r.shape),
                             atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-6)
  z = np.array([0, 0, 1.0])
  np.testing.assert_allclose(r[1] @ z, [1, 0, 0], atol=1e-6)  # +yaw: nose to +x (image right)
  np.testing.assert_allclose(r[2] @ z, [0, -1, 0], atol=1e-6)  # +pitch: looks down
  np.testing.assert_allclose(r[3] @ np.array([1.0, 0, 0]), [0, 1, 0], atol=1e-6)  # +roll


def test_clip_coordinates_land_on_the_projected_pixel_centres(rng):
  cam = camera.Camera(image_size=(120, 200), focal=(300.0, 280.0), principal_point=(90.0, 70.0))
  pts = tf.constant(rng.uniform([-5, -5, -60], [5, 5, -40], size=(2, 50, 3)), tf.float32)
  clip = camera.to_clip(pts, cam).numpy()
  pix = camera.project(pts, cam).numpy()
  ndc = clip[..., :3] / clip[..., 3:]
  # Pixel (ix, iy) centre sits at NDC ((ix + 0.5) 2 / W - 1, 1 - (iy + 0.5) 2 / H).
  np.testing.assert_allclose((ndc[..., 0] + 1) * 200 / 2 - 0.5, pix[..., 0], atol=1e-3)
  np.testing.assert_allclose((1 - ndc[..., 1]) * 120 / 2 - 0.5, pix[..., 1], atol=1e-3)
  assert (np.abs(ndc[..., 2]) < 1).all()
  near = camera.to_clip(tf.constant([[[0, 0, -cam.near]]], tf.float32), cam).numpy()[0, 0]
  far = camera.to_clip(tf.constant([[[0, 0, -cam.far]]], tf.float32), cam).numpy()[0, 0]
  np.testing.assert_allclose([near[2] / near[3], far[2] / far[3]], [-1, 1], atol=1e-4)


def test_principal_point_defaults_to_the_image_centre():
  cam = camera.Camera()
  assert cam.centre == (119.5, 119.5)
  px = camera.project(tf.constant([[[0.0, 0.0, -100.0]]]), cam).numpy()
  np.testing.assert_allclose(px[0, 0], [119.5, 119.5])
