"""The table CLIs on a tiny synthetic world (functions and one absl run each)."""

import dataclasses
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from eval import bu3dfe
from eval import disentanglement
from eval import lips
from eval import model_io
from eval import records
from eval import subspace
from tests.eval.conftest import Oracle

REPO = pathlib.Path(__file__).resolve().parents[2]


def _run(module, *args):
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO, capture_output=True, text=True,
                        timeout=600)


def test_bu3dfe_vertex_protocol_learned_model_beats_mean_template(synthetic, ict_export, tmp_path):
  data = bu3dfe.load_inputs(synthetic.test_bu3dfe)
  assert data.synthetic and len(data.items) == 2
  recs = model_io.with_baselines([str(ict_export)], data.synthetic)
  out = bu3dfe.evaluate(recs, data, output=tmp_path)
  m = out['methods']
  assert set(m) == {'ict', 'mean template', 'ICT model (true)'}
  assert m['ict']['protocols'] == ['vertex']
  assert m['ict']['overall']['mean'] < m['mean template']['overall']['mean']
  assert set(m['ict']['by_expression']) == {'NE', 'HA'}
  assert (tmp_path / 'bu3dfe.json').exists() and len(list((tmp_path / 'figures').glob('*.png'))) == 6
  assert '1.75 ± 0.44' in (tmp_path / 'bu3dfe.md').read_text()


def test_bu3dfe_oracle_is_exact_under_both_protocols(synthetic):
  data = bu3dfe.load_inputs(synthetic.test_bu3dfe)
  with np.load(synthetic.test_groundtruth) as g:
    names = list(g['name'])
    order = [names.index(scan.name.stem[:-4]) for scan, _, _ in data.items]  # items are sorted by path
    verts, ang, tr = g['vertices'][order], g['angles'][order], g['translation'][order]
  # Stand-in meshes displaced by a similarity: both protocols must undo it and report ~0 mm.
  moved = 1.1 * verts + np.array([0.5, -0.2, 0.3])
  for protocol in ('vertex', 'scan'):
    oracle = Oracle(moved, moved, ang, tr, 256)
    out = bu3dfe.evaluate([oracle], data, protocol=protocol)
    assert out['methods']['oracle']['overall']['mean'] < (1e-3 if protocol == 'vertex' else 0.05), protocol


def test_bu3dfe_cli_runs_and_bad_inputs_are_clear(synthetic, ict_export, tmp_path):
  r = _run('eval.bu3dfe', f'--model={ict_export}', f'--data={synthetic.test_bu3dfe}', '--baselines=false',
           '--max_scans=1', f'--output={tmp_path / "o"}')
  assert r.returncode == 0, r.stderr[-2000:]
  assert '| ict |' in r.stdout and 'MoFA' in r.stdout
  with pytest.raises(FileNotFoundError, match='no such folder'):
    bu3dfe.load_inputs(tmp_path / 'missing')
  (tmp_path / 'empty' / 'F0001').mkdir(parents=True)
  (tmp_path / 'empty' / 'F0001' / 'F0001_NE00WH_F2D.bmp').write_bytes(b'')
  with pytest.raises(ValueError, match='no BU-3DFE scans found'):
    bu3dfe.load_inputs(tmp_path / 'empty')
  # A scan without its 2D image is a counted skip.
  src = next(synthetic.test_bu3dfe.rglob('*_F3D.wrl'))
  lone = tmp_path / 'lone' / src.parent.name
  lone.mkdir(parents=True)
  (lone / src.name).write_text(src.read_text())
  data = bu3dfe.load_inputs(tmp_path / 'lone')
  assert data.items == [] and data.skipped['no 2D image'] == 1


def test_bu3dfe_vertex_protocol_rejects_mismatched_topology(synthetic, ict_export):
  data = bu3dfe.load_inputs(synthetic.test_bu3dfe, max_scans=1)
  rec = model_io.export_fitter(ict_export)
  rec.topology = model_io.Topology(rec.topology.triangles[:-1], rec.topology.landmarks,
                                   rec.topology.triangle_regions[:-1], rec.topology.mean_vertices)
  with pytest.raises(ValueError, match='share the model topology'):
    bu3dfe.evaluate([rec], data, protocol='vertex')


def test_lips_oracle_renders_the_ground_truth_masks(synthetic):
  frames, skipped = records.read_frames(synthetic.train_video)
  assert len(frames) == 2 and not skipped
  with np.load(synthetic.train_groundtruth['video']) as g:
    v, ang, tr = (g[k].reshape((-1,) + g[k].shape[2:]) for k in ('vertices', 'angles', 'translation'))
  out = lips.evaluate([Oracle(v, v, ang, tr, 240)], frames)
  iou = out['methods']['oracle']
  assert iou['upper']['mean'] > 0.97 and iou['lower']['mean'] > 0.97, iou


def test_lips_fitted_export_and_missing_records(synthetic, ict_export):
  frames, _ = records.read_frames(synthetic.train_video)
  out = lips.evaluate(model_io.with_baselines([str(ict_export)], True), frames)
  assert 0.0 <= out['methods']['ict']['upper']['mean'] <= 1.0
  assert 'Ours with L_seg (paper)' in lips.markdown(out)
  with pytest.raises(FileNotFoundError, match='No TFRecord files match'):
    records.read_frames('/nonexistent/*.tfrecord')


def test_disentanglement_ae_of_a_known_offset(synthetic, ict_export):
  frames, skipped = records.read_frames(synthetic.train_neutral + ',' + synthetic.train_video,
                                        neutral_only=True)
  assert len(frames) == 2 and skipped['record not neutral'] == 1
  with np.load(synthetic.train_groundtruth['neutral']) as g:
    ident = g['neutral_vertices']
    ang, tr = g['angles'][:, 0], g['translation'][:, 0]
  offset = ident + np.array([0.3, 0.0, 0.4])  # 0.5 cm = 5 mm on every vertex
  out = disentanglement.evaluate([Oracle(offset, ident, ang, tr, 240)], frames, exports=[str(ict_export)])
  assert out['methods']['oracle']['mean'] == pytest.approx(5.0, abs=1e-4)
  assert 0.0 < out['basis_overlap']['ict']['max_cosine'] <= 1.0


def test_subspace_recovers_the_ict_spaces_and_not_random_ones(ict_export, random_export):
  good = subspace.evaluate(ict_export, identity_modes=20)
  bad = subspace.evaluate(random_export, identity_modes=20)
  assert good['identity_vs_ict_identity']['count_above_0.9'] == 20
  assert good['expression_vs_ict_expression']['mean'] > 0.9
  assert bad['expression_vs_ict_expression']['mean'] < 0.5
  assert len(good['blendshapes']) == 53


def test_subspace_missing_export_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='without a model export'):
    subspace.evaluate(tmp_path)
  with pytest.raises(FileNotFoundError, match='does not exist'):
    subspace.evaluate(tmp_path / 'x.npz')
  r = _run('eval.subspace', f'--model={tmp_path / "x.npz"}')
  assert r.returncode == 2 and 'eval.subspace: error:' in r.stderr and 'Traceback' not in r.stderr
  (tmp_path / 'bad.npz').write_bytes(b'not a zip')
  with pytest.raises(ValueError, match='not a readable .npz'):
    subspace.evaluate(tmp_path / 'bad.npz')


class _ClipEmbedder:
  """Test stand-in for the face network: image k of every batch sequence gets the one-hot vector of its
  identity, so same pairs have cosine 1 and different pairs 0 (EMD exactly 1)."""

  def __init__(self, identity_of_image):
    self._ids = identity_of_image

  def __call__(self, images, landmarks):
    assert len(images) == len(self._ids) and landmarks.shape == (len(images), 68, 2)
    return np.eye(max(self._ids) + 1)[self._ids]


def test_lfw_synthetic_pairs_and_scores(synthetic, ict_export, tmp_path):
  from eval import lfw  # pylint: disable=g-import-not-at-top
  frames, _ = records.read_frames(synthetic.train_video + ',' + synthetic.train_neutral)
  pairs = lfw.synthetic_pairs(frames)
  same = [p for p in pairs if p[2]]
  assert len(same) == 1 and len(pairs) == 2  # 2 frames of one clip; as many different pairs
  ids = sorted({f.identity_id for f in frames})
  images = np.stack([f.image for f in frames])
  lms = np.stack([f.landmarks for f in frames])
  out = lfw.evaluate(model_io.with_baselines([str(ict_export)], True), images, lms, pairs, synthetic=True,
                     output=tmp_path, embedder=_ClipEmbedder([ids.index(f.identity_id) for f in frames]))
  for m in out['methods'].values():
    assert m['emd'] == pytest.approx(1.0) and m['accuracy_best_threshold'] == 1.0
  assert (tmp_path / 'figures' / 'lfw_hist_ict.png').exists() and '0.15' in lfw.markdown(out)


def test_lfw_pairs_naming_absent_images_are_counted_skips(shared_dir, tmp_path):
  from eval import lfw  # pylint: disable=g-import-not-at-top
  root = shared_dir / 'formats' / 'lfw'
  images, lms, pairs, skipped = lfw.lfw_inputs(root / 'pairs.txt', root)
  # Only Anthony_Hopkins 0001/0002 are in the sample: their matched pair survives, every other is skipped.
  assert len(images) == 2 and lms.shape == (2, 68, 2)
  assert [(p[2]) for p in pairs] == [True]
  assert skipped['pair skipped (an image missing or without a face)'] == 5999
  with pytest.raises(FileNotFoundError, match='no such file'):
    lfw.lfw_inputs(tmp_path / 'pairs.txt', root)
  with pytest.raises(ValueError, match='no usable pairs'):
    lfw.evaluate([], np.zeros((0, 4, 4, 3), np.uint8), np.zeros((0, 68, 2)), [], skipped)


def test_run_folder_reconstructs_through_the_encoder(synthetic, tmp_path):
  from tests.eval import helpers  # pylint: disable=g-import-not-at-top
  run = helpers.make_run(tmp_path / 'run')
  rec = model_io.load_reconstructor(run)
  assert rec.name == 'run' and rec.topology.num_vertices == len(rec.topology.mean_vertices)
  data = bu3dfe.load_inputs(synthetic.test_bu3dfe, max_scans=1)
  scan, image, lms = data.items[0]
  assert image.shape[:2] == (256, 256)  # not a 240 crop: the adapter cuts the face out first
  recon = rec.reconstruct(image[None], lms[None])
  assert recon.vertices.shape == (1, rec.topology.num_vertices, 3) and recon.images.shape == (1, 240, 240, 3)
  assert recon.lip_masks.shape == (1, 240, 240, 2) and recon.lip_masks.any()
  # The whole report through the encoder path (a run without an export: subspace is a reported skip).
  from eval import report  # pylint: disable=g-import-not-at-top
  out = report.run([str(run)], tmp_path / 'report', synthetic, ict_identity_modes=20)
  assert out['errors'] == {}, out['errors']
  assert out['sections']['synthetic/bu3dfe']['methods']['run']['overall']['n'] == 2
  assert 'without a model export' in out['sections']['synthetic/subspace']['skipped'][0]
  with pytest.raises(FileNotFoundError, match='config.json'):
    model_io.load_reconstructor(tmp_path)
  with pytest.raises(ValueError, match='expected a run folder or a model.export'):
    model_io.load_reconstructor(tmp_path / 'model.txt')


def test_report_runs_every_synthetic_table(synthetic, ict_export, tmp_path):
  from eval import report  # pylint: disable=g-import-not-at-top
  out = report.run([str(ict_export)], tmp_path, synthetic, ict_identity_modes=20)
  assert out['errors'] == {}
  assert set(out['sections']) == {'synthetic/bu3dfe', 'synthetic/lips', 'synthetic/disentanglement',
                                  'synthetic/lfw', 'synthetic/subspace'}
  text = (tmp_path / 'report.md').read_text()
  for needle in ('1.75 ± 0.44', '0.54', '0.0116', '0.15', '| mean template |', '| ict |'):
    assert needle in text, needle
  assert [m['model'] for m in out['sections']['synthetic/subspace']['models']] == ['ict']
  assert (tmp_path / 'report.json').exists()


def test_bu3dfe_reports_the_share_of_the_gap_closed_with_a_paired_interval(synthetic, ict_export):
  data = bu3dfe.load_inputs(synthetic.test_bu3dfe)
  out = bu3dfe.evaluate(model_io.with_baselines([str(ict_export)], data.synthetic), data)
  m, gap = out['methods'], out['gap_closed']['ict']
  mean = lambda name: m[name]['overall']['mean']
  expected = (mean('mean template') - mean('ict')) / (mean('mean template') - mean('ICT model (true)'))
  assert gap['n'] == 2 and gap['fraction'] == pytest.approx(expected)
  assert gap['ci_low'] <= gap['fraction'] <= gap['ci_high']
  assert set(out['gap_closed']) == {'ict'}  # the two ends of the scale get no row
  assert 'Share of the gap' in bu3dfe.markdown(out)


def test_detected_landmark_rows_use_dlib_and_count_frames_without_a_face(synthetic, ict_export):
  frames, _ = records.read_frames(synthetic.train_video)
  fitter = model_io.export_fitter(ict_export)
  detected = model_io.DetectedLandmarks(fitter)
  assert detected.name == 'ict (dlib landmarks)'
  lms, found = detected.detect(np.stack([f.image for f in frames]))
  assert found.any()  # dlib finds rendered faces (not always), near the true landmarks but not on them
  err = np.linalg.norm(lms[found] - np.stack([f.landmarks for f in frames])[found], axis=-1).mean()
  assert 0.0 < err < 15.0, err
  first = int(np.argmax(found))
  blank = dataclasses.replace(frames[first], image=np.full_like(frames[first].image, 128))
  rest = [f for i, f in enumerate(frames) if i != first]
  out = lips.evaluate([fitter, detected], [blank, frames[first]] + rest)
  misses = 1 + int(np.sum(~found))
  assert out['skipped'] == {'ict (dlib landmarks): no face detected': misses}
  assert out['methods']['ict (dlib landmarks)']['upper']['n'] <= len(frames) + 1 - misses
  assert out['methods']['ict']['upper']['n'] >= out['methods']['ict (dlib landmarks)']['upper']['n']


def test_photo_pairs_table_crops_each_photo_once_and_counts_missing_ones(shared_dir, tmp_path):
  from eval import lfw  # pylint: disable=g-import-not-at-top
  photos = shared_dir / 'media' / 'photos'
  (tmp_path / 'pairs.csv').write_text('file_x,file_y,Decision\nobama.jpg,obama2.jpg,Yes\n'
                                      'obama.jpg,biden.jpg,No\nobama.jpg,absent.jpg,No\n')
  images, lms, pairs, skipped = lfw.csv_pair_inputs(tmp_path / 'pairs.csv', photos)
  assert images.shape == (3, 240, 240, 3) and lms.shape == (3, 68, 2)
  assert pairs == [(0, 1, True, 0), (0, 2, False, 0)]
  assert skipped['image missing_file'] == 1
  assert skipped['pair skipped (an image missing or without a face)'] == 1
  # The crop's landmarks lie inside the crop, on the face.
  assert lms.min() > 0 and lms.max() < 240
