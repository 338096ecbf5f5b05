"""eval.landmarks on shared 300-W photos (hand-made truth) with a tiny run folder: the CLI's JSON rows and
intervals, dlib's NME, the pose-fitted mean template, and ground truth that is moved or replaced."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from common import paths
from data import face as face_lib
from data import landmarks_eval
from data import media
from eval import landmarks
from eval import metrics

# Three of the eleven shared photos (the smallest files: quick to detect in).
IMAGES = ('9545523490_2', '3854178896_1', '3873491482_1')
SHIFT = 0.2  # of the inter-ocular distance, along x, for the moved copy


def _write_pts(path, points0):
  """A .pts file (1-based) of 0-based points [68, 2]."""
  body = ''.join(f'{x + 1:.6f} {y + 1:.6f}\n' for x, y in points0)
  path.write_text(f'version: 1\nn_points:  {len(points0)}\n{{\n{body}}}\n')


@pytest.fixture(scope='module')
def cli_result(tiny_model_dir, tmp_path_factory):
  root = paths.shared_path('media', 'landmarks300w')
  data = tmp_path_factory.mktemp('300w')
  for stem in IMAGES:
    shutil.copy(root / f'{stem}.jpg', data)
    shutil.copy(root / f'{stem}.pts', data)
  # The same photo with its truth moved by SHIFT inter-ocular distances, and one whose truth is dlib's own
  # detection (as the CLI detects it: eval.reconstruct's analyzer, --min_face_size 200).
  gt = landmarks_eval.read_pts(root / f'{IMAGES[0]}.pts')
  shutil.copy(root / f'{IMAGES[0]}.jpg', data / 'shifted.jpg')
  _write_pts(data / 'shifted.pts', gt + [SHIFT * np.linalg.norm(gt[36] - gt[45]), 0.0])
  shutil.copy(root / f'{IMAGES[1]}.jpg', data / 'as_dlib.jpg')
  image = media.load_image(root / f'{IMAGES[1]}.jpg')[0]
  _write_pts(data / 'as_dlib.pts', face_lib.FaceAnalyzer(min_face_size=200).detect(image)[0].landmarks)
  _write_pts(data / 'orphan.pts', gt)  # no image: a counted failure
  (data / 'unannotated.jpg').write_bytes((root / f'{IMAGES[2]}.jpg').read_bytes())
  out = tmp_path_factory.mktemp('landmarks_out')
  res = subprocess.run([sys.executable, '-m', 'eval.landmarks', f'--model={tiny_model_dir}', f'--data={data}',
                        f'--output={out}', '--noprogress'], capture_output=True, text=True, timeout=600)
  return res, json.loads((out / 'landmarks.json').read_text()), out


def test_cli_reports_every_image_and_exits_1_for_the_failed_one(cli_result):
  res, out, folder = cli_result
  assert res.returncode == 1, res.stderr
  rows = {r['image']: r for r in out['per_image']}
  assert set(rows) == {f'{s}.jpg' for s in IMAGES} | {'shifted.jpg', 'as_dlib.jpg', 'orphan'}
  assert rows['orphan']['status'] == landmarks.MISSING_IMAGE
  assert out['failures'] == {landmarks.MISSING_IMAGE: 1} and out['evaluated'] == 5 and out['failed'] == 1
  assert out['images_without_annotation'] == 1
  for r in out['per_image']:
    if r['status'] != 'ok':
      continue
    for m in landmarks.METHODS:
      assert np.asarray(r['landmarks68_image_px'][m]).shape == (68, 2)
      assert set(r['nme'][m]) == {'68', '51'} and all(np.isfinite(v) for v in r['nme'][m].values())
  assert 'dlib' in res.stdout and 'mean template' in res.stdout and 'failed: missing_image' in res.stdout
  assert (folder / 'landmarks.md').read_text().count('\n| ') >= 3 + 6


def test_summary_is_the_mean_and_t_interval_of_the_rows(cli_result):
  _, out, _ = cli_result
  ok = [r for r in out['per_image'] if r['status'] == 'ok']
  for m in landmarks.METHODS:
    for s in ('68', '51'):
      values = [r['nme'][m][s] for r in ok]
      got = out['summary'][m][s]
      assert got['n'] == 5 and got['failed'] == 1
      assert got['mean'] == pytest.approx(np.mean(values))
      half = 2.7764 * np.std(values, ddof=1) / np.sqrt(5)  # t_{0.975, 4} = 2.7764 (tables)
      assert got['ci95'] == pytest.approx(half, rel=1e-4)
  diff = [r['nme']['model']['68'] - r['nme']['mean template']['68'] for r in ok]
  assert out['paired']['model - mean template']['68']['mean'] == pytest.approx(np.mean(diff))


def test_dlib_detections_are_close_to_the_hand_made_truth(cli_result):
  _, out, _ = cli_result
  rows = {r['image']: r for r in out['per_image']}
  for stem in IMAGES:
    r = rows[f'{stem}.jpg']
    assert r['status'] == 'ok'
    assert r['nme']['dlib']['68'] < 0.1 and r['nme']['dlib']['51'] < 0.1
    # The mean face with only its pose fitted to dlib's inner points, mapped from the crop to the image.
    assert r['nme']['mean template']['51'] < 0.1
    assert r['nme']['mean template']['68'] < 0.15


def test_moved_truth_raises_the_nme_and_dlibs_own_detection_as_truth_gives_zero(cli_result):
  _, out, _ = cli_result
  rows = {r['image']: r for r in out['per_image']}
  orig, moved = rows[f'{IMAGES[0]}.jpg'], rows['shifted.jpg']
  assert moved['interocular_px'] == pytest.approx(orig['interocular_px'], rel=1e-5)
  for m in ('dlib', 'mean template'):  # (the tiny model is untrained: its errors are near 1)
    for s in ('68', '51'):
      assert moved['nme'][m][s] > orig['nme'][m][s] + 0.1, (m, s)
  # A uniform shift of SHIFT moves every error by SHIFT: the NME is within the original error of it.
  assert abs(moved['nme']['dlib']['68'] - SHIFT) <= orig['nme']['dlib']['68'] + 1e-6
  assert rows['as_dlib.jpg']['nme']['dlib']['68'] < 1e-4
  np.testing.assert_allclose(rows['as_dlib.jpg']['landmarks68_image_px']['dlib'],
                             landmarks_eval.read_pts(pathlib.Path(out['data']) / 'as_dlib.pts'), atol=1e-4)


def test_model_landmarks_are_the_reconstructions_projection(tiny_model):
  # eval.reconstruct's crop and reconstruction of the face, then its projected landmarks mapped to the image.
  from data import face_frames
  from eval import reconstruct
  from model import reconstruction
  path = paths.shared_path('media', 'landmarks300w', f'{IMAGES[0]}.jpg')
  fc = face_frames.image_faces(path, face_lib.FaceAnalyzer(min_face_size=200), 200)[0]
  pred = landmarks.predict(tiny_model, landmarks.template_fitter(tiny_model), fc)
  params = reconstruction.encode_frames(tiny_model, fc.frame.image[None].astype(np.float32) / 255.0,
                                        fc.frame.landmarks[None])
  decoded = reconstruction.decode_frames(tiny_model, params)
  np.testing.assert_allclose(
      landmarks.project_landmarks68(tiny_model, decoded['vertices'], params['angles'], params['translation']),
      decoded['landmarks2d'], atol=1e-3)
  expected = face_lib.from_crop_coords(decoded['landmarks2d'][0], fc.frame.crop_box)
  np.testing.assert_allclose(pred['model'], expected, atol=1e-3)
  _, written, _ = reconstruct.reconstruct_face(tiny_model, fc)
  np.testing.assert_allclose(written['landmarks68_image_px'], expected, atol=1e-3)
  np.testing.assert_array_equal(pred['dlib'], fc.detected_landmarks)
  assert metrics.landmark_nme(pred['mean template'], pred['dlib'], points=metrics.INNER_LANDMARKS) < 0.08


def test_cli_usage_errors_exit_2(tiny_model_dir, tmp_path):
  run = lambda *a: subprocess.run([sys.executable, '-m', 'eval.landmarks', *a], capture_output=True,
                                  text=True, timeout=300)
  res = run(f'--data={tmp_path}')
  assert res.returncode == 2 and '--model is required' in res.stderr
  res = run(f'--model={tiny_model_dir}', f'--data={tmp_path}')
  assert res.returncode == 2 and 'no .pts annotation files' in res.stderr
  res = run(f'--model={tiny_model_dir}', '--dat=x')
  assert res.returncode == 2 and "Unknown command line flag 'dat'" in res.stderr
