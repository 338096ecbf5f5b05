"""Crop <-> source pixel coordinates (data.face): from_crop_coords inverts to_crop_coords and maps the
crop's pixel centres onto the source pixels they were resampled from."""

import numpy as np

from data import face as face_lib


def test_from_crop_coords_inverts_to_crop_coords():
  rng = np.random.default_rng(1)
  pts = rng.uniform(-50, 900, (68, 2))
  for box in ((10, -20, 480), (-3, 7, 121), (0, 0, 240)):
    crop = face_lib.to_crop_coords(pts, box)
    np.testing.assert_allclose(face_lib.from_crop_coords(crop, box), pts, atol=1e-3)


def test_from_crop_coords_by_hand():
  # A 480 px square at (100, 50) resized to 240: crop pixel (0, 0) covers source pixels 100-101 x 50-51,
  # whose centre is (100.5, 50.5); crop pixel centre (119.5, 119.5) is the square's centre (339.5, 289.5).
  np.testing.assert_allclose(face_lib.from_crop_coords([[0.0, 0.0], [119.5, 119.5]], (100, 50, 480), 240),
                             [[100.5, 50.5], [339.5, 289.5]])
