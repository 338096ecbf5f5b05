"""Synthetic ground-truth dataset: determinism, record contents, ground truth, BU-3DFE layout, caching."""

import numpy as np
import pytest
import tensorflow as tf

from data import pipeline
from data import bu3dfe
from data import schema
from data import synthetic
from model import config as model_config

pytestmark = pytest.mark.slow

TINY = synthetic.SyntheticConfig(num_identities=2, num_frames=3, num_neutral=2, num_test_subjects=2,
                                 test_expressions=('NE00', 'SU04'), test_image_size=256, seed=5)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  return synthetic.generate(tmp_path_factory.mktemp('syn') / 'a', TINY)


def _samples(pattern):
  files = tf.io.gfile.glob(pattern)
  return [schema.parse_sample(r) for r in tf.data.TFRecordDataset(files).as_numpy_iterator()]


def test_deterministic_for_a_seed(tiny, tmp_path):
  again = synthetic.generate(tmp_path / 'b', TINY)
  for a, b in ((tiny.train_video, again.train_video), (tiny.train_neutral, again.train_neutral)):
    fa, fb = tf.io.gfile.glob(a), tf.io.gfile.glob(b)
    assert [open(x, 'rb').read() for x in fa] == [open(x, 'rb').read() for x in fb]
  other = synthetic.SyntheticConfig(**{**TINY.__dict__, 'seed': 6})
  assert other.key() != TINY.key()


def test_records_look_like_real_data(tiny):
  video, neutral = _samples(tiny.train_video), _samples(tiny.train_neutral)
  assert len(video) == 2 and len(neutral) == 2
  assert all(len(s.frames) == 3 and s.is_video and s.is_neutral == 0 for s in video)
  assert all(len(s.frames) == 1 and s.is_neutral == 1 for s in neutral)
  gt = np.load(tiny.train_groundtruth['video'])
  assert gt['vertices'].shape[:2] == (2, 3) and gt['alpha'].shape == (2, TINY.identity_modes)
  assert gt['expression'].shape == (2, 3, 53) and gt['sh'].shape == (2, 3, 9, 3)
  assert np.all(gt['expression'] >= 0)
  assert np.all((gt['expression'] > 0).sum(-1) <= TINY.max_active_blendshapes)
  assert np.all(np.abs(np.degrees(gt['angles'][..., 1])) <= TINY.yaw_deg + 1e-3)
  ngt = np.load(tiny.train_groundtruth['neutral'])
  assert np.all(ngt['expression'] == 0)
  np.testing.assert_allclose(ngt['vertices'][:, 0], ngt['neutral_vertices'], atol=1e-6)
  for s_idx, s in enumerate(video):
    for i, f in enumerate(s.frames):
      np.testing.assert_allclose(f.landmarks, gt['landmarks2d'][s_idx, i], atol=1e-4)
      assert np.all((f.landmarks > 0) & (f.landmarks < model_config.IMAGE_SIZE))
      lm = f.landmarks
      # The face is in the image: landmark spread, and the rendered lip masks sit at the lip landmarks.
      assert np.ptp(lm[:, 0]) > 80
      assert (f.lip_mask == 1).sum() > 20 and (f.lip_mask == 2).sum() > 20
      ys, xs = np.nonzero(f.lip_mask)
      assert np.abs(np.array([xs.mean(), ys.mean()]) - lm[48:60].mean(0)).max() < 12
      # Contours: outer ones run between the mouth corners 48 and 54, inner ones between 60 and 64.
      uo, ui, lo, li = f.lip_contours
      assert np.linalg.norm(uo[0] - lm[48]) < 2.5 and np.linalg.norm(uo[-1] - lm[54]) < 2.5
      assert np.linalg.norm(lo[0] - lm[54]) < 2.5 and np.linalg.norm(lo[-1] - lm[48]) < 2.5
      # Inner ones are the visible lip boundary facing the mouth (rendered pixels): between the mouth
      # corners, spanning most of the mouth, between the outer contours, in iBUG order (60 -> 64, 64 -> 60).
      lo_x, hi_x = sorted((lm[48, 0], lm[54, 0]))
      for c in (ui, li):
        assert (c[:, 0] > lo_x - 3).all() and (c[:, 0] < hi_x + 3).all()
        assert np.ptp(c[:, 0]) > 0.5 * (hi_x - lo_x)
      mid = lambda c: c[len(c) // 2, 1]  # y at the middle of the mouth
      assert mid(uo) < mid(ui) <= mid(li) < mid(lo)
      assert ui[0, 0] < ui[-1, 0] and li[0, 0] > li[-1, 0]
      assert uo[:, 1].mean() < lo[:, 1].mean()  # image y down: upper lip above the lower
      # Frames of a clip differ (pose / light / expression).
    assert np.abs(s.frames[0].image.astype(int) - s.frames[1].image.astype(int)).mean() > 5


def test_pipeline_reads_synthetic_like_real(tiny):
  ds = pipeline.make_mixed_dataset(tiny.train_video, tiny.train_neutral, batch_size=2, deterministic=True)
  assert ds.element_spec == pipeline.element_spec(4, 2)
  e = next(iter(ds))
  assert set(e['dataset'].numpy().tolist()) == {b'synthetic'}


def test_bu3dfe_layout(tiny):
  scans = bu3dfe.find_bu3dfe_scans(tiny.test_bu3dfe)
  assert len(scans) == 4
  gt = np.load(tiny.test_groundtruth)
  names = [str(n) for n in gt['name']]
  for scan in scans:
    assert scan.name.kind == 'F3D' and scan.name.expression in ('NE', 'SU')
    assert scan.bnd is not None and scan.image is not None and scan.image.name.endswith('_F2D.bmp')
    mesh = bu3dfe.read_wrl(scan.wrl)
    k = names.index(scan.name.stem[:-4])
    np.testing.assert_allclose(mesh.vertices, gt['vertices'][k] * 10.0, atol=1e-3)  # mm
    np.testing.assert_array_equal(mesh.triangles, gt['triangles'])
    idx, pts = bu3dfe.read_bnd(scan.bnd)
    assert len(idx) == 83
    np.testing.assert_allclose(pts, mesh.vertices[idx], atol=1e-3)
    from PIL import Image  # pylint: disable=g-import-not-at-top
    assert Image.open(scan.image).size == (256, 256)
  # Expressions change the mesh; the BU groups are where they should be (mouth below the eyes).
  ne, su = (gt['vertices'][names.index(n)] for n in names[:2])
  assert np.abs(ne - su).max() > 0.3
  idx, pts = bu3dfe.read_bnd(scans[0].bnd)
  eyes = pts[list(bu3dfe.BU3DFE_LANDMARK_GROUPS['right_eye'])].mean(0)
  mouth = pts[list(bu3dfe.BU3DFE_LANDMARK_GROUPS['outer_mouth'])].mean(0)
  assert eyes[1] > mouth[1] + 30  # mm, +y up


def test_ensure_caches(monkeypatch, tmp_path):
  monkeypatch.setenv('C3DMM_CACHE', str(tmp_path / 'cache'))
  cfg = synthetic.SyntheticConfig(num_identities=1, num_frames=2, num_neutral=1, num_test_subjects=1,
                                  test_expressions=('NE00',), test_image_size=128)
  first = synthetic.ensure_synthetic_dataset(cfg)
  assert first.root.parent == tmp_path / 'cache' / 'synthetic' and (first.root / 'DONE').exists()
  stamp = (first.root / 'DONE').stat().st_mtime_ns
  second = synthetic.ensure_synthetic_dataset(cfg)
  assert second.root == first.root and (second.root / 'DONE').stat().st_mtime_ns == stamp
  assert len(tf.io.gfile.glob(second.train_video)) == 1
  with pytest.raises(ValueError):
    synthetic.generate(tmp_path / 'bad', synthetic.SyntheticConfig(
        num_identities=0, num_neutral=0, num_test_subjects=1, test_expressions=('XX04',)))


def test_per_sample_api_reproduces_the_generated_records(tiny):
  """FaceSpace + sample_clip + render_clip + clip_sample (the on-the-fly stream's recipe) give record 0."""
  rng = np.random.default_rng(np.random.SeedSequence([TINY.seed, synthetic.GENERATOR_VERSION]).spawn(3)[0])
  space = synthetic.FaceSpace(TINY)
  params = synthetic.sample_clip(rng, TINY, space, TINY.num_frames)
  frames, landmarks = synthetic.render_clip(space, params)
  sample = synthetic.clip_sample(frames, 'video', 0, TINY.seed, neutral=False)
  record = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(tiny.train_video)).as_numpy_iterator()))
  assert tf.train.Example.FromString(schema.serialize_sample(sample)) == tf.train.Example.FromString(record)
  np.testing.assert_array_equal(landmarks.astype(np.float32),
                                np.load(tiny.train_groundtruth['video'])['landmarks2d'][0])
