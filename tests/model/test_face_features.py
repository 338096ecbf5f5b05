"""dlib's face ResNet in Keras: equal to dlib, alignment, gradients, bad input, the weight reader."""

import hashlib

import dlib  # a pinned requirement (dlib-bin): the reference these tests compare with
import numpy as np
import pytest
import tensorflow as tf

from model import dlib_weights
from model import face_features

# Shared media used below: every face must match dlib; one frame per video keeps the test short.
PHOTOS = ('obama.jpg', 'obama-240p.jpg', 'biden.jpg', 'astronaut.png', 'sergey.png')
VIDEOS = ('short_hamilton_clip.mp4', 'talking_child_d11.mp4', 'talking_man_d13.mp4')


@pytest.fixture(scope='module')
def net():
  return face_features.FaceFeatureNet()


@pytest.fixture(scope='module')
def dlib_models():
  return face_features._dlib_models()  # pylint: disable=protected-access


def _first_face(dlib_models, image, predictor_file=None):
  dl, detector, predictor, _ = dlib_models
  if predictor_file is not None:
    predictor = dl.shape_predictor(str(dlib_weights.default_model_path().parent / predictor_file))
  rects = detector(image, 1)
  assert rects, 'no face detected'
  shape = predictor(image, max(rects, key=lambda r: r.area()))
  return shape, np.array([[(p.x, p.y) for p in shape.parts()]], np.float32)


# ------------------------------------------------------------------------------------------ equal to dlib


@pytest.mark.slow
def test_descriptors_equal_dlib_on_shared_photos_and_video_frames(net, shared_dir):
  frames = []
  for name in PHOTOS:
    frames += face_features.read_frames(shared_dir / 'media' / 'photos' / name)
  for name in VIDEOS:
    frames += face_features.read_frames(shared_dir / 'media' / 'video' / name, video_frames=1)
  rows = face_features.compare_with_dlib(frames, net)
  assert {r.source.split('#')[0] for r in rows} == set(PHOTOS) | set(VIDEOS), 'a face was not detected'
  assert len(rows) >= len(PHOTOS) + len(VIDEOS)
  for r in rows:
    assert r.cosine >= 0.999, r
    assert r.l2 < 0.01, r


@pytest.mark.slow
def test_same_person_decision_of_dlib_reproduced_on_obama_and_biden(net, dlib_models, shared_dir):
  """Our whole pipeline (TF alignment + network) makes dlib's L2 < 0.6 decisions."""
  photos = shared_dir / 'media' / 'photos'
  _, _, _, recognizer = dlib_models
  ours, theirs = {}, {}
  for name in ('obama.jpg', 'obama2.jpg', 'obama-720p.jpg', 'biden.jpg', 'biden_biden2.jpg'):
    image = face_features.read_frames(photos / name)[0][1]
    shape, landmarks = _first_face(dlib_models, image)
    chips = face_features.align_faces(image[None].astype(np.float32) / 255.0, landmarks)
    ours[name] = net.descriptors(chips).numpy()[0]
    theirs[name] = np.asarray(recognizer.compute_face_descriptor(image, shape))
  names = sorted(ours)
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      same = a.startswith('obama') == b.startswith('obama')
      d_ours = np.linalg.norm(ours[a] - ours[b])
      d_dlib = np.linalg.norm(theirs[a] - theirs[b])
      assert (d_dlib < face_features.SAME_PERSON_DISTANCE) == same, (a, b, d_dlib)
      assert (d_ours < face_features.SAME_PERSON_DISTANCE) == same, (a, b, d_ours)


# ------------------------------------------------------------------------------------------ alignment


@pytest.mark.parametrize('predictor_file', [None, 'shape_predictor_5_face_landmarks.dat'])
def test_alignment_reproduces_dlib_face_chip_from_68_and_5_landmarks(dlib_models, shared_dir, predictor_file):
  # A face small enough (63 px) that dlib samples the image itself (no pyramid level): chips must agree.
  image = face_features.read_frames(shared_dir / 'media' / 'photos' / 'obama-240p.jpg')[0][1]
  shape, landmarks = _first_face(dlib_models, image, predictor_file)
  theirs = np.asarray(dlib.get_face_chip(image, shape, 150, 0.25), np.float32)
  ours = face_features.align_faces(image[None].astype(np.float32), landmarks)[0].numpy()
  # dlib truncates the interpolated value to 8 bits: floor(ours) must equal it (up to float ties).
  diff = np.abs(np.floor(ours + 1e-3) - theirs)
  assert diff.max() <= 1.0
  assert np.mean(diff > 0) < 0.005


@pytest.mark.parametrize('name', ['obama.jpg', pytest.param('jurica-koletic-7YVZYZeITc8-unsplash.jpg',
                                                             marks=pytest.mark.slow)])
def test_emulated_alignment_reproduces_dlib_chips_of_large_faces(dlib_models, shared_dir, name):
  # 270 px and 1657 px faces: dlib samples from its image pyramid (1 and 3 levels down).
  image = face_features.read_frames(shared_dir / 'media' / 'photos' / name)[0][1]
  shape, landmarks = _first_face(dlib_models, image)
  theirs = np.asarray(dlib.get_face_chip(image, shape, 150, 0.25), np.float32)
  images = tf.constant(image[None].astype(np.float32) / 255.0)
  with tf.GradientTape() as tape:
    tape.watch(images)
    chips = face_features.align_faces(images, landmarks, emulate_dlib=True)
    loss = tf.reduce_sum(chips)
  ours = chips[0].numpy() * 255.0
  diff = np.abs(np.round(ours) - theirs)
  assert diff.max() <= 1.0 and np.mean(diff > 0) < 0.005
  plain = face_features.align_faces(images, landmarks)[0].numpy() * 255.0
  assert np.abs(plain - theirs).mean() > 5 * diff.mean()  # the pyramid matters for these faces
  assert np.abs(tape.gradient(loss, images).numpy()).sum() > 0


def test_chip_transform_is_a_similarity_mapping_template_onto_landmarks():
  rng = np.random.default_rng(1)
  idx, template = face_features.chip_template(68)
  angle, scale, shift = 0.3, 1.7, np.array([40.0, 25.0])
  rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  landmarks = rng.normal(size=(68, 2)) * 30 + 100  # points dlib ignores (jaw, brows, lower lip): random
  landmarks[idx] = template @ rot.T + shift
  a = face_features.face_chip_transforms(landmarks[None]).numpy()[0]
  # dlib: the chip spans size * s - 1 image pixels between its first and last pixel centre.
  k = (150 * scale - 1) / (149 * scale)
  np.testing.assert_allclose(a[:, :2], k * rot, rtol=1e-5)
  centre = rot @ [75.0, 75.0] + shift
  np.testing.assert_allclose(a @ [74.5, 74.5, 1.0], centre, rtol=1e-5)


def test_chips_are_differentiable_in_the_landmarks():
  rng = np.random.default_rng(4)
  image = tf.constant(rng.uniform(size=(1, 40, 40, 3)), tf.float64)
  _, template = face_features.chip_template(5, size=16)
  landmarks = tf.constant(template[None] * 1.3 + 5.0 + rng.normal(scale=0.5, size=(1, 5, 2)), tf.float64)
  weights = tf.constant(rng.normal(size=(1, 16, 16, 3)), tf.float64)

  def loss_fn(lm):
    return tf.reduce_sum(face_features.align_faces(image, lm, size=16) * weights)

  with tf.GradientTape() as tape:
    tape.watch(landmarks)
    loss = loss_fn(landmarks)
  grad = tape.gradient(loss, landmarks).numpy()
  assert np.abs(grad).max() > 0
  h = 1e-7
  for i, j in [(0, 0), (2, 1), (4, 0)]:
    e = np.zeros(landmarks.shape)
    e[0, i, j] = 1.0
    numeric = (float(loss_fn(landmarks + h * e)) - float(loss_fn(landmarks - h * e))) / (2 * h)
    assert abs(numeric - grad[0, i, j]) <= 1e-5 * abs(numeric) + 1e-6, (i, j, numeric, grad[0, i, j])


def test_chip_pixels_outside_the_image_are_zero():
  image = tf.ones([1, 20, 30, 3])
  transform = tf.constant([[[1.0, 0.0, -5.0], [0.0, 1.0, 0.0]]])  # chip x = 0..4 falls left of the image
  chip = face_features.extract_chips(image, transform, size=8).numpy()[0]
  assert np.all(chip[:, :5] == 0.0)
  np.testing.assert_allclose(chip[:, 5:], 1.0)


# ------------------------------------------------------------------------------------------ network rules


def test_dlib_size_rule_truncates_like_c_and_lets_taps_outside_count_as_zero():
  # dlib: side 1 + (n + 2p - k) / s with C division: a 3x3/2 convolution of a 2x2 map gives 1x1.
  assert face_features._dlib_side(2, 3, 2, 0) == 1  # pylint: disable=protected-access
  assert face_features._dlib_side(150, 7, 2, 0) == 72  # pylint: disable=protected-access
  assert face_features._pad_for(2, 3, 2, 0) == (0, 1, 1)  # pylint: disable=protected-access


def test_adding_different_sizes_pads_missing_rows_columns_and_channels_with_zeros():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(1, 3, 3, 4)).astype(np.float32)
  b = rng.normal(size=(1, 4, 4, 2)).astype(np.float32)
  expected = np.zeros((1, 4, 4, 4), np.float32)
  expected[:, :3, :3, :4] += a
  expected[:, :4, :4, :2] += b
  added = face_features._add_dlib(tf.constant(a), tf.constant(b))  # pylint: disable=protected-access
  np.testing.assert_allclose(added.numpy(), expected)


def test_network_is_frozen_and_feature_maps_have_dlib_sizes(net):
  chips = tf.random.uniform([2, 150, 150, 3], seed=1)
  out = net(chips)
  assert not net.trainable_weights
  assert [tuple(f.shape) for f in out['features']] == [
      (2, 35, 35, 32), (2, 35, 35, 32), (2, 17, 17, 64), (2, 8, 8, 128), (2, 2, 2, 256)]
  assert tuple(out['descriptor'].shape) == (2, 128)
  with tf.GradientTape() as tape:
    tape.watch(chips)
    loss = tf.reduce_sum(net.descriptors(chips))
  grad_weights, grad_chips = tape.gradient(loss, [net.weights[1], chips])
  assert grad_weights is None  # frozen weights are not watched
  assert np.any(grad_chips.numpy() != 0)


@pytest.mark.slow
def test_feature_loss_gradient_matches_finite_differences_on_small_image():
  """d/d image of a cosine feature loss through alignment (32x32 image upsampled to a chip) and network.

  Computed in float64 (same weights) so that central differences are accurate.
  """
  net64 = face_features.FaceFeatureNet(dtype='float64')
  rng = np.random.default_rng(0)
  image = tf.constant(rng.uniform(0.2, 0.8, size=(1, 32, 32, 3)), tf.float64)
  target = tf.constant(rng.uniform(0.2, 0.8, size=(1, 32, 32, 3)), tf.float64)
  _, template = face_features.chip_template(5)
  landmarks = tf.constant((template * 0.17 + 3.0)[None], tf.float32)  # the face fills the small image
  target_maps = net64.feature_maps(face_features.align_faces(target, landmarks))

  def loss_fn(img):
    maps = net64.feature_maps(face_features.align_faces(img, landmarks))
    return face_features.cosine_feature_distance(maps, target_maps, eps=0.0)[0]

  with tf.GradientTape() as tape:
    tape.watch(image)
    loss = loss_fn(image)
  grad = tape.gradient(loss, image).numpy()
  assert grad.dtype == np.float64 and np.isfinite(grad).all() and np.abs(grad).max() > 0
  def central_difference(direction, h):
    return (float(loss_fn(image + h * direction)) - float(loss_fn(image - h * direction))) / (2 * h)

  # ReLU and max-pool kinks are dense for a random image: a step may cross one, so two tiny steps are
  # tried and the better one must match to 1e-5.
  directions = [np.random.default_rng(seed + 10).normal(size=image.shape) for seed in range(3)]
  for y, x, c in [(16, 16, 0), (10, 20, 2)]:  # and single pixels
    directions.append(np.zeros(image.shape))
    directions[-1][0, y, x, c] = 1.0
  for i, v in enumerate(directions):
    analytic = float(np.sum(grad * v))
    errors = [abs(central_difference(v, h) - analytic) for h in (1e-7, 2e-8)]
    assert min(errors) <= 1e-5 * abs(analytic) + 1e-8, (i, analytic, errors)


def test_cosine_feature_distance_is_zero_for_equal_and_two_per_level_for_opposite_features():
  rng = np.random.default_rng(2)
  maps = [tf.constant(rng.normal(size=(2, s, s, c)), tf.float32) for s, c in ((5, 3), (2, 4))]
  np.testing.assert_allclose(face_features.cosine_feature_distance(maps, maps).numpy(), 0.0, atol=1e-5)
  np.testing.assert_allclose(face_features.cosine_feature_distance(maps, [-m for m in maps]).numpy(), 4.0,
                             rtol=1e-5)
  scaled = [3.0 * m for m in maps]  # cosine ignores the feature magnitude
  np.testing.assert_allclose(face_features.cosine_feature_distance(maps, scaled).numpy(), 0.0, atol=1e-5)


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize('shape,message', [
    ((150, 150, 3), 'rank 3'),
    ((1, 150, 150, 4), '3 channels'),
    ((0, 150, 150, 3), 'empty batch'),
    ((1, 120, 120, 3), '150 x 150'),
])
def test_bad_chips_give_clear_errors(net, shape, message):
  with pytest.raises(ValueError, match=message):
    net(tf.zeros(shape))


def test_integer_chips_are_rejected_with_a_hint(net):
  with pytest.raises(ValueError, match='divide 8-bit images by 255'):
    net(tf.zeros([1, 150, 150, 3], tf.uint8))


def test_bad_landmarks_give_clear_errors():
  with pytest.raises(ValueError, match='68 or 5 landmarks; got 17'):
    face_features.face_chip_transforms(np.zeros((1, 17, 2)))
  with pytest.raises(ValueError, match=r'\[B, 68 or 5, 2\]'):
    face_features.face_chip_transforms(np.zeros((68, 2)))


def test_non_finite_or_coincident_landmarks_give_clear_errors():
  landmarks = np.tile(np.array([[[50.0, 60.0]]]), (1, 68, 1))
  with pytest.raises(tf.errors.InvalidArgumentError, match='degenerate'):
    face_features.face_chip_transforms(landmarks)
  landmarks[0, 30, 0] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match='must be finite'):
    face_features.face_chip_transforms(landmarks)


def test_missing_weights_file_names_the_package(tmp_path, monkeypatch):
  with pytest.raises(FileNotFoundError, match='face_recognition_models'):
    dlib_weights.load_weights(tmp_path / 'nothing.dat')
  monkeypatch.setattr(dlib_weights.importlib.util, 'find_spec', lambda name: None)
  with pytest.raises(FileNotFoundError, match='pip install face_recognition_models'):
    face_features.FaceFeatureNet()


def test_vgg16_option_loads_a_users_weights_file(tmp_path):
  import keras  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
  path = tmp_path / 'vgg16_notop.weights.h5'
  reference.save_weights(str(path))
  net = face_features.load_perceptual_net(f'vgg16:{path}')
  images = tf.random.uniform([1, 32, 32, 3], seed=3)
  maps = net.feature_maps(images)
  assert [m.shape[-1] for m in maps] == [64, 128, 256, 512, 512]
  bgr = images[..., ::-1] * 255.0 - tf.constant([103.939, 116.779, 123.68])
  conv5_3 = keras.Model(reference.input, reference.get_layer('block5_conv3').output)
  np.testing.assert_allclose(maps[-1].numpy(), conv5_3(bgr).numpy(), rtol=1e-4, atol=1e-4)
  bad = tmp_path / 'not_vgg.h5'
  bad.write_bytes(b'not an h5 file')
  with pytest.raises(ValueError, match='not a Keras VGG16'):
    face_features.load_perceptual_net(f'vgg16:{bad}')


def test_missing_vgg16_weights_file_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
    face_features.load_perceptual_net(f'vgg16:{tmp_path / "vgg16.h5"}')
  with pytest.raises(ValueError, match="'dlib' or 'vgg16:PATH'"):
    face_features.load_perceptual_net('resnet50')


# ------------------------------------------------------------------------------------------ the reader


@pytest.fixture(scope='module')
def dat_bytes():
  return dlib_weights.default_model_path().read_bytes()


def test_reader_decodes_dlib_integer_and_float_encodings():
  s = dlib_weights._Stream(  # pylint: disable=protected-access
      bytes([0x82, 0x2c, 0x01, 0x01, 0x07]) + bytes([0x03, 0x9a, 0x99, 0x99, 0x81, 0x18]), 'bytes')
  assert s.integer() == -300  # control 0x82: negative, two bytes 0x012c
  assert s.integer(signed=False) == 7
  assert s.real() == pytest.approx(0.6, abs=1e-7)  # 0x99999a * 2**-24
  with pytest.raises(dlib_weights.DlibFormatError, match='file ends'):
    s.integer()


def test_converted_weights_match_the_file_and_come_back_from_the_cache(dat_bytes, tmp_path, monkeypatch):
  monkeypatch.setenv('C3DMM_CACHE', str(tmp_path))
  fresh = dlib_weights.load_weights()
  expected = 7 * 7 * 3 * 32 + 3 * 32 + 256 * 128 + 3  # stem conv + bias + affine, fc, input means
  channels = 32
  for block in dlib_weights.residual_blocks():
    expected += 9 * channels * block.filters + 9 * block.filters ** 2 + 6 * block.filters
    channels = block.filters
  assert sum(v.size for v in fresh.values()) == expected
  np.testing.assert_allclose(fresh['input/mean'], [122.782, 117.001, 104.298], rtol=1e-6)
  cached = list(tmp_path.glob('face_features/*/weights.npz'))
  assert len(cached) == 1
  again = dlib_weights.load_weights()
  assert sorted(again) == sorted(fresh)
  for k, v in fresh.items():
    np.testing.assert_array_equal(again[k], v)
  assert hashlib.sha256(dat_bytes).hexdigest() == dlib_weights.RELEASED_SHA256


@pytest.mark.parametrize('keep', [0, 1, 100, 19_000, 11_000_000, -1])
def test_reader_rejects_truncated_files(dat_bytes, keep):
  data = dat_bytes[:keep] if keep >= 0 else dat_bytes[:-1]
  with pytest.raises(dlib_weights.DlibFormatError):
    dlib_weights.parse_dat(data)


def test_reader_rejects_trailing_bytes_and_damaged_structure(dat_bytes):
  with pytest.raises(dlib_weights.DlibFormatError, match='unexpected bytes after the network'):
    dlib_weights.parse_dat(dat_bytes + b'\x00')
  pos = dat_bytes.index(b'con_4')
  bad = dat_bytes[:pos + 1] + b'x' + dat_bytes[pos + 2:]  # the stem's version string 'con_4' -> 'cxn_4'
  with pytest.raises(dlib_weights.DlibFormatError, match="found 'cxn_4' where convolution stem/conv"):
    dlib_weights.parse_dat(bad)
  pos = dat_bytes.index(b'max_pool_2') + len(b'max_pool_2')
  bad = dat_bytes[:pos] + b'\x01\x05' + dat_bytes[pos + 2:]  # the pool's window 3 -> 5
  with pytest.raises(dlib_weights.DlibFormatError, match='expected 3x3/2'):
    dlib_weights.parse_dat(bad)


def test_reader_fails_only_with_its_own_error_on_damaged_headers(dat_bytes):
  # The first 400 bytes hold the layer versions, the input layer and the stem's header: flip single bytes.
  positions = np.random.default_rng(5).choice(400, size=40, replace=False)
  rejected = 0
  for pos in positions:
    bad = bytearray(dat_bytes)
    bad[pos] ^= 0xFF
    try:
      dlib_weights.parse_dat(bytes(bad))
    except dlib_weights.DlibFormatError:
      rejected += 1
  # The rest hit values the parser cannot judge (learning rates, weights): load_weights' hash check does.
  assert rejected >= 25


def test_flipped_weight_bits_are_caught_by_the_released_hash(dat_bytes, tmp_path):
  bad = bytearray(dat_bytes)
  bad[len(bad) // 2] ^= 0x01  # inside a convolution's float32 values: structure intact, finite
  path = tmp_path / dlib_weights.MODEL_FILE
  path.write_bytes(bytes(bad))
  with pytest.raises(dlib_weights.DlibFormatError, match='not the released'):
    dlib_weights.load_weights(path, use_cache=False)
  weights = dlib_weights.load_weights(path, use_cache=False, allow_unreleased=True)
  released = dlib_weights.parse_dat(dat_bytes)
  changed = [k for k in released if not np.array_equal(weights[k], released[k])]
  assert len(changed) == 1 and np.sum(weights[changed[0]] != released[changed[0]]) == 1
