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
