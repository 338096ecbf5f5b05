"""eval.transfer: the source's expression on the target's identity."""

import numpy as np
import pytest

from data import media
from eval import transfer
from model import reconstruction


def test_transfer_keeps_the_target_identity_and_the_source_expression(tiny_model, photo, video, tmp_path):
  summary = transfer.run(tiny_model, video, photo, tmp_path, min_face_size=100, max_frames=6, stride=3,
                         progress=False)
  assert summary['frames_reconstructed'] >= 2
  out = np.load(tmp_path / 'transfer.npz')
  # Reconstruct both sides separately and compare.
  from data import face as face_lib
  from data import face_frames
  analyzer = face_lib.FaceAnalyzer(min_face_size=100)
  frame = face_frames.image_faces(photo, analyzer, 100)[0].frame
  target = frame.image[None].astype(np.float32) / 255.0
  target_dec = reconstruction.decode_frames(
      tiny_model, reconstruction.encode_frames(tiny_model, target, frame.landmarks[None]))
  np.testing.assert_allclose(out['identity_vertices'], target_dec['identity_vertices'], atol=1e-4)
  crops, _, _, _, landmarks = transfer.source_crops(video, analyzer, 100, max_frames=6, stride=3,
                                                    progress=False)
  source_params = reconstruction.encode_frames(tiny_model, crops, landmarks)
  source_dec = reconstruction.decode_frames(tiny_model, source_params)
  np.testing.assert_allclose(out['source_delta'], source_params['delta'], atol=1e-5)
  # The expression part of the result equals the source's; it differs between frames.
  np.testing.assert_allclose(out['vertices'] - out['identity_vertices'],
                             source_dec["vertices"] - source_dec["identity_vertices"][None], atol=1e-3)
  assert np.abs(np.diff(out['vertices'], axis=0)).max() > 1e-2
  assert not np.allclose(out['identity_vertices'], source_dec['identity_vertices'], atol=1e-3)
  assert (tmp_path / 'transfer.png').is_file() and (tmp_path / 'transfer.mp4').is_file()


def test_image_source_gives_a_grid_of_four_rows(tiny_model, photo, tmp_path):
  from PIL import Image
  source = photo.with_name('obama2.jpg')
  transfer.run(tiny_model, source, photo, tmp_path, min_face_size=100, progress=False)
  with Image.open(tmp_path / 'transfer.png') as im:
    assert im.size == (240, 4 * 240)


def test_target_without_a_face_is_a_clear_error(tiny_model, photo, tmp_path):
  from PIL import Image
  Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / 'black.png')
  with pytest.raises(media.Drop, match='no_face'):
    transfer.run(tiny_model, photo, tmp_path / 'black.png', tmp_path / 'out', min_face_size=100,
                 progress=False)
  with pytest.raises(ValueError, match='must be an image'):
    transfer.run(tiny_model, photo, photo.parents[1] / 'video' / 'talking_child_d11.mp4', tmp_path / 'o',
                 min_face_size=100, progress=False)
