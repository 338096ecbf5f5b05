"""MediaPipe face-mesh lips: index lists vs the canonical mesh, fits on real photos, fallbacks, bad input."""

import collections

import numpy as np
import pytest

from data import face as face_lib
from data import face_mesh
from data import lips
from data import media
from data import preprocess
from data import schema
from model import semantics


def _read_obj(path):
  vertices, faces = [], []
  for line in path.read_text().splitlines():
    p = line.split()
    if p and p[0] == 'v':
      vertices.append([float(x) for x in p[1:4]])
    elif p and p[0] == 'f':
      faces.append([int(x.split('/')[0]) - 1 for x in p[1:4]])
  return np.array(vertices), np.array(faces)


def test_mesh_lip_contours_are_mesh_edge_paths_around_the_mouth(shared):
  v, f = _read_obj(shared / 'assets' / 'mediapipe' / 'canonical_face_model.obj')
  assert v.shape == (lips.MESH_NUM_POINTS, 3)
  edges = {frozenset((t[a], t[b])) for t in f for a, b in ((0, 1), (1, 2), (2, 0))}
  for name, idx in lips.MESH_CONTOUR_INDICES.items():
    assert all(frozenset(e) in edges for e in zip(idx[:-1], idx[1:])), name
  c = {k: v[list(idx), :2] for k, idx in lips.MESH_CONTOUR_INDICES.items()}  # +y up in the mesh
  # Like dlib: upper contours run left -> right (image x), lower ones right -> left.
  for name in ('upper_outer', 'upper_inner'):
    assert np.all(np.diff(c[name][:, 0]) > 0), name
  for name in ('lower_outer', 'lower_inner'):
    assert np.all(np.diff(c[name][:, 0]) < 0), name
  assert c['upper_outer'][0, 0] == c['lower_outer'][-1, 0] == v[:, 0][list(lips.MESH_UPPER_OUTER)].min()
  # Top to bottom at the midline: outer upper, inner upper, inner lower, outer lower.
  mid = [c[k][5, 1] for k in ('upper_outer', 'upper_inner', 'lower_inner', 'lower_outer')]
  assert mid == sorted(mid, reverse=True)


@pytest.fixture(scope='module')
def obama(shared):
  image, _, _ = media.load_image(shared / 'media' / 'photos' / 'obama.jpg')
  (face,) = face_lib.FaceAnalyzer(min_face_size=50).detect(image)
  return image, face


def test_mesh_fits_the_dlib_face_and_its_lips(obama):
  image, face = obama
  mesh = face_mesh.fit(image, face.landmarks)
  assert mesh.points.shape == (468, 2) and mesh.score > 0.9
  iod = np.linalg.norm(face.landmarks[36] - face.landmarks[45])
  # Mouth corners and lip midpoints agree with dlib's to a few % of the inter-ocular distance.
  for m, d in ((61, 48), (291, 54), (0, 51), (17, 57), (13, 62), (14, 66)):
    assert np.linalg.norm(mesh.points[m] - face.landmarks[d]) < 0.06 * iod, (m, d)
  # The lip masks of both sources lie on the same mouth (they differ in thickness: the mesh's lower lip
  # reaches further down on this smile; the IoU against ground truth is data.lip_quality's job).
  box = face.crop_box
  a = lips.label_map_from_contours([face_lib.to_crop_coords(c, box)
                                    for c in lips.mesh_lip_contours(mesh.points)])
  b = lips.lip_label_map(face_lib.to_crop_coords(face.landmarks, box))
  crop_iod = iod * 240 / box[2]
  for label in (semantics.REGION_UPPER_LIP, semantics.REGION_LOWER_LIP):
    ca, cb = np.argwhere(a == label).mean(0), np.argwhere(b == label).mean(0)
    assert np.linalg.norm(ca - cb) < 0.1 * crop_iod, label
  assert np.sum((a > 0) & (b > 0)) > 0.6 * np.sum(b > 0)


def test_roi_matrix_and_inverse_agree():
  roi = face_mesh.Roi((120.3, 80.7), 150.0, 0.3)
  src = np.array([[100.0, 90.0], [130.5, 60.25]])
  m = roi.matrix()
  crop_pc = src @ m[:, :2].T + m[:, 2]
  np.testing.assert_allclose(roi.to_source(crop_pc + 0.5), src, atol=1e-9)


def test_grayscale_huge_tiny_and_partial_faces_do_not_crash(obama, shared):
  image, face = obama
  gray = image.mean(-1).astype(np.uint8)
  g = face_mesh.fit(gray, face.landmarks)
  assert g.score > 0.5 and np.all(np.isfinite(g.points))
  big = np.repeat(np.repeat(image, 4, 0), 4, 1)  # a face of ~1500 px
  h = face_mesh.fit(big, face.landmarks * 4 + 1.5)
  np.testing.assert_allclose(h.points[61], face_mesh.fit(image, face.landmarks).points[61] * 4 + 1.5, atol=12)
  tiny = np.zeros((6, 5, 3), np.uint8)
  t = face_mesh.fit(tiny, face.landmarks / 60.0)
  assert np.all(np.isfinite(t.points)) and 0.0 <= t.score <= 1.0
  partial, _, _ = media.load_image(shared / 'media' / 'photos' / 'obama_partial_face.jpg')
  for f in face_lib.FaceAnalyzer(min_face_size=50).detect(partial):
    p = face_mesh.fit(partial, f.landmarks)
    assert np.all(np.isfinite(p.points))


def test_rejected_mesh_falls_back_to_dlib_lips_and_is_counted(obama):
  image, face = obama
  notes = collections.Counter()
  noise = np.random.default_rng(0).integers(0, 255, image.shape, np.uint8)
  frame = preprocess.make_frame(noise, face, 0, preprocess.Config(), notes)  # no face under the landmarks
  assert frame.lip_source == 'dlib' and notes == {'lips/dlib_fallback': 1}
  np.testing.assert_array_equal(frame.lip_mask, lips.lip_label_map(frame.landmarks))
  frame = preprocess.make_frame(image, face, 0, preprocess.Config(), notes)
  assert frame.lip_source == 'mediapipe' and notes['lips/mediapipe'] == 1
  assert not np.array_equal(frame.lip_mask, lips.lip_label_map(frame.landmarks))
  frame = preprocess.make_frame(image, face, 0, preprocess.Config(lip_source='dlib'), notes)
  assert frame.lip_source == 'dlib' and notes['lips/dlib'] == 1
  np.testing.assert_array_equal(frame.lip_mask, lips.lip_label_map(frame.landmarks))
  back = schema.parse_sample(schema.serialize_sample(schema.Sample([frame], 'folder', 'a', 'a')))
  assert back.frames[0].lip_source == 'dlib'


@pytest.mark.parametrize('image, landmarks, message', [
    (np.zeros((50, 50, 3), np.float32), np.zeros((68, 2)), 'uint8'),
    (np.zeros((50, 50, 2), np.uint8), np.zeros((68, 2)), 'image'),
    (np.zeros((0, 50, 3), np.uint8), np.zeros((68, 2)), 'image'),
    (np.zeros((50, 50, 3), np.uint8), np.zeros((5, 2)), '68 finite'),
    (np.zeros((50, 50, 3), np.uint8), np.full((68, 2), np.nan), '68 finite'),
])
def test_bad_input_raises_a_clear_error(image, landmarks, message):
  with pytest.raises(ValueError, match=message):
    face_mesh.fit(image, landmarks)


def test_bad_lip_source_is_refused():
  with pytest.raises(ValueError, match='lip_source'):
    preprocess.Config(lip_source='mesh')
  with pytest.raises(ValueError, match='lip source'):
    frame = schema.Frame(np.zeros((240, 240, 3), np.uint8), np.zeros((68, 2), np.float32),
                         np.zeros((240, 240), np.uint8), [np.zeros((2, 2))] * 4, lip_source='magic')
    schema.serialize_sample(schema.Sample([frame], 'folder', 'a', 'a'))


def test_overlay_picture_shows_both_sources_side_by_side(obama):
  from data import lip_overlays  # pylint: disable=g-import-not-at-top
  image, face = obama
  picture, score = lip_overlays.overlay(image, face, 0.5)
  assert picture.shape == (480, 960, 3) and picture.dtype == np.uint8 and score > 0.5
  left, right = picture[:, :480].astype(int), picture[:, 480:].astype(int)
  assert np.abs(left - right).mean() > 0.1  # the lips differ
  assert np.abs(left[400:] - right[400:]).max() < 40  # the rest (bottom of the crop) is the same picture


def test_records_written_before_lip_source_existed_still_parse():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  lm = np.random.default_rng(0).uniform(60, 180, (68, 2)).astype(np.float32)
  frame = schema.Frame(np.zeros((240, 240, 3), np.uint8), lm, lips.lip_label_map(lm), lips.lip_contours(lm),
                       lip_source='mediapipe')
  ex = tf.train.Example.FromString(schema.serialize_sample(schema.Sample([frame], 'folder', 'a', 'a')))
  assert list(ex.features.feature['frames/lip_source'].bytes_list.value) == [b'mediapipe']
  del ex.features.feature['frames/lip_source']  # as version-1 records were written
  (old,) = schema.parse_sample(ex.SerializeToString()).frames
  assert old.lip_source == '' and np.array_equal(old.lip_mask, frame.lip_mask)
  # Synthetic records' lips are rendered: stated even when the writer leaves the field empty.
  frame.lip_source = ''
  (syn,) = schema.parse_sample(schema.serialize_sample(schema.Sample([frame], 'synthetic', 'a', 'a'))).frames
  assert syn.lip_source == 'render'


def test_overlays_rank_frames_by_mouth_opening():
  from data import lip_overlays  # pylint: disable=g-import-not-at-top
  from tests.data.conftest import fake_landmarks  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  closed, open_ = fake_landmarks(rng, opening=0.0), fake_landmarks(rng, opening=0.25)
  assert lip_overlays.mouth_opening(open_) > lip_overlays.mouth_opening(closed) + 0.1
