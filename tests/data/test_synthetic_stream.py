"""data.synthetic_stream: pipeline element structure, resumable determinism, the 3:1 mix, ground truth."""

import numpy as np
import pytest

from data import pipeline
from data import synthetic_stream


def test_elements_match_the_pipeline_spec_and_mix_video_and_neutral_three_to_one():
  items = list(synthetic_stream.make_stream('combined', batch_size=None, num_frames=2, count=4,
                                            prefetch=False))
  spec = pipeline.element_spec(2, None)
  for x in items:
    for k, s in spec.items():
      assert tuple(x[k].shape) == tuple(s.shape) and x[k].dtype == s.dtype, k
  assert [bool(x['is_neutral']) for x in items] == [False, False, False, True]
  neutral = items[3]
  np.testing.assert_array_equal(neutral['image'][0], neutral['image'][1])  # one image repeated
  assert not np.array_equal(items[0]['image'][0], items[0]['image'][1])  # video: frames differ
  assert float(np.min(items[0]['lip_distance'])) == 0.0  # each contour passes through its own pixels


def test_a_stream_started_at_i_continues_exactly_and_seeds_differ():
  a = list(synthetic_stream.make_stream('video', batch_size=None, num_frames=2, count=3, prefetch=False))
  b = next(iter(synthetic_stream.make_stream('video', batch_size=None, num_frames=2, start=2, count=1)))
  np.testing.assert_array_equal(a[2]['image'], b['image'])
  c = next(iter(synthetic_stream.make_stream('video', batch_size=None, num_frames=2, seed=1, count=1)))
  assert not np.array_equal(a[0]['image'], c['image'])


def test_a_pooled_stream_cycles_the_first_samples_exactly_and_resumes_at_any_position():
  plain = list(synthetic_stream.make_stream('combined', batch_size=None, num_frames=2, count=3,
                                            prefetch=False))
  pooled = synthetic_stream.make_pooled_stream('combined', 3, batch_size=1, num_frames=2)
  got = [next(it) for it in [iter(pooled)] for _ in range(7)]
  assert set(got[0]) == set(synthetic_stream.POOL_KEYS)
  for i, x in enumerate(got):  # element i is sample i % 3, images exact after the uint8 round trip
    np.testing.assert_array_equal(x['image'][0].numpy(), plain[i % 3]['image'].numpy())
    np.testing.assert_array_equal(x['landmarks'][0].numpy(), plain[i % 3]['landmarks'].numpy())
    assert bool(x['is_neutral'][0]) == bool(plain[i % 3]['is_neutral'])
  resumed = next(iter(synthetic_stream.make_pooled_stream('combined', 3, batch_size=2, start=5,
                                                          num_frames=2)))
  np.testing.assert_array_equal(resumed['image'][0].numpy(), plain[2]['image'].numpy())
  np.testing.assert_array_equal(resumed['image'][1].numpy(), plain[0]['image'].numpy())
  with pytest.raises(ValueError, match='pool_size'):
    synthetic_stream.make_pooled_stream('video', 0, batch_size=1)


def test_groundtruth_landmarks_are_the_projected_groundtruth_mesh():
  x = next(iter(synthetic_stream.make_stream('video', batch_size=None, num_frames=2, count=1,
                                             groundtruth=True)))
  world = synthetic_stream.SyntheticWorld(num_frames=2)
  lm = np.asarray(world.template.landmarks)[30]  # nose tip: not on the dynamic jaw
  v = x['gt_vertices'].numpy()[:, lm]
  from model import camera, image_formation  # pylint: disable=g-import-not-at-top
  rot, t = image_formation.pose_to_rotation_translation((x['gt_angles'], x['gt_translation']))
  p = camera.project(camera.rigid_transform(v[:, None], rot, t), world.camera).numpy()[:, 0]
  np.testing.assert_allclose(p, x['landmarks'].numpy()[:, 30], atol=1e-3)


def test_unknown_kind_is_rejected():
  with pytest.raises(ValueError, match='kind'):
    synthetic_stream.make_stream('videos')


@pytest.mark.parametrize('kind', ['neutral', 'video'])
def test_lip_targets_agree_with_the_models_own_contours_at_the_true_face(kind):
  """Eq. 7 evaluated on the ground-truth mesh in its true pose is ~0 for every contour: the targets are
  what the model's contours are at the truth (the mesh's mouth-opening loop, hidden behind closed lips,
  was 3-4 px off the visible inner contour: a target no face could meet)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_ops  # pylint: disable=g-import-not-at-top
  from model import image_formation, lighting  # pylint: disable=g-import-not-at-top
  from training import losses  # pylint: disable=g-import-not-at-top
  x = next(iter(synthetic_stream.make_stream(kind, batch_size=None, num_frames=2, count=1, seed=3,
                                             groundtruth=True)))
  world = synthetic_stream.SyntheticWorld(num_frames=2)
  albedo = tf.fill([2, world.template.num_vertices, 3], 0.5)
  r = image_formation.render(x['gt_vertices'], albedo, (x['gt_angles'], x['gt_translation']),
                             lighting.ambient_sh(batch_size=2), world.camera, world.mesh)
  outer = tf.gather(r['projected'], world.outer_contour_vertices, axis=1)  # [F, 2, p, 2] at the truth
  inner = image_formation.inner_lip_contour_pixels(r['regions'])
  positions = tf_ops.interpolate(r['projected'], r['triangle_ids'], r['barycentrics'], world.mesh.triangles)
  lengths = x['lip_contour_lengths'].numpy()
  assert (lengths > 0).all(), lengths  # all four contours visible in these renders
  for lip in range(2):
    pts, valid = losses.select_contour_pixels(inner[..., lip], positions, 128)
    for c, (p, v) in ((2 * lip, (outer[:, lip], tf.ones(outer.shape[:1] + outer.shape[2:3]))),
                      (2 * lip + 1, (pts, valid))):
      img = x['lip_contours'][:, c]
      img_valid = tf.cast(tf.range(img.shape[1])[None] < lengths[:, c:c + 1], tf.float32)
      term = losses.contour_terms(p, v, x['lip_distance'][..., c], img, img_valid, threshold=20.0).numpy()
      assert (term < 0.6).all(), (c, term)  # px + px^2; the outer DTs are drawn at 1/16 px (~0.4 px)
