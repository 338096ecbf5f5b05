"""training.main on records that data.prepare made from real photos and a real video."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_identity_stage_trains_on_prepared_real_records(tmp_path, shared_dir):
  media = tmp_path / 'media'
  media.mkdir()
  for name in ('obama.jpg', 'biden.jpg', 'obama2.jpg'):
    shutil.copy(shared_dir / 'media' / 'photos' / name, media / name)
  shutil.copy(shared_dir / 'media' / 'video' / 'talking_child_d11.mp4', media / 'clip.mp4')
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  records = tmp_path / 'records'
  prep = subprocess.run([sys.executable, '-m', 'data.prepare', '--kind=folder', f'--input={media}',
                         f'--output={records}', '--min_face_size=100', '--noprogress'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert prep.returncode == 0, prep.stdout[-2000:] + prep.stderr[-2000:]
  report = json.loads((records / 'report.json').read_text())
  assert report['records'] >= 3, report
  glob = str(records / '*.tfrecord')
  run_dir = tmp_path / 'run'
  train = subprocess.run([sys.executable, '-m', 'training.main', '--stage=identity', '--config=demo',
                          f'--data={glob}', f'--neutral_data={glob}', '--steps=3', f'--run_dir={run_dir}',
                          '--noprogress'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
  assert '[identity] done' in train.stdout
  assert list((run_dir / 'checkpoints' / 'identity').glob('ckpt-*.index'))
  assert (run_dir / 'export' / 'identity.npz').exists()
