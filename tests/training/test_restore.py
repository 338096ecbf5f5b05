"""Where a stage starts from: its own checkpoint, else the previous stage's, never an older one silently."""

import os
import pathlib
import subprocess
import sys

import pytest

from tests.training import tiny
from training import trainer as trainer_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _trained_pose_and_half_identity(run_dir):
  """pose trained to its end (checkpoints 5 and 10), identity paused at step 5 (its checkpoint 5)."""
  t = trainer_lib.Trainer(tiny.TINY, run_dir, progress=False)
  t.run_stage('pose')
  t.run_stage('identity', stop_at=5)
  return t.stage_dir('pose'), t.stage_dir('identity')


def test_a_stage_resumes_from_its_own_checkpoint_and_starts_from_the_previous_stage_otherwise(tmp_path):
  pose, identity = _trained_pose_and_half_identity(tmp_path)
  t = trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False)
  assert t.run_stage('identity', stop_at=6)['started_from'] == str(identity / 'ckpt-5')
  assert t.run_stage('combined', stop_at=1)['started_from'].startswith(str(identity / 'ckpt-'))


@pytest.mark.parametrize('lost', ['ckpt-5.index', 'checkpoint'])
def test_a_stage_whose_checkpoint_is_incomplete_refuses_to_fall_back_to_the_previous_stage(tmp_path, lost):
  pose, identity = _trained_pose_and_half_identity(tmp_path)
  (identity / lost).unlink()  # the other files of ckpt-5 stay
  t = trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False)
  # Before: without `checkpoint`, pose's ckpt-10 was restored and identity trained from there, silently;
  # without the .index, a NotFoundError traceback.
  with pytest.raises(trainer_lib.InputError, match='holds files') as err:
    t.run_stage('identity')
  assert f'Remove {identity}' in str(err.value) and "the pose stage's checkpoint" in str(err.value)
  assert not (identity / 'ckpt-10.index').exists()  # nothing trained, nothing saved
  # A later stage does not skip the broken folder either (it would land on pose's checkpoint).
  with pytest.raises(trainer_lib.InputError, match=f'{identity}: the identity stage holds files'):
    t.run_stage('combined')
  assert not t.stage_dir('combined').exists()


def test_an_interrupted_first_save_and_a_damaged_checkpoint_are_refused(tmp_path):
  t = trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False)
  partial = t.stage_dir('pose') / 'ckpt-5_temp'
  partial.mkdir(parents=True)
  (partial / 'part-00000-of-00001.data-00000-of-00001').write_bytes(b'\0' * 64)
  with pytest.raises(trainer_lib.InputError, match='ckpt-5_temp.*no complete checkpoint.*initialisation'):
    t.run_stage('pose')  # before: started again from initialisation, the partial save left in place
  partial.rename(tmp_path / 'moved')
  t.run_stage('pose', stop_at=5)
  data = t.stage_dir('pose') / 'ckpt-5.data-00000-of-00001'
  data.write_bytes(data.read_bytes()[:100])  # truncated
  with pytest.raises(trainer_lib.InputError, match='damaged checkpoint of stage pose'):
    trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False).run_stage('pose')


def test_main_exits_2_with_the_message_and_no_traceback(tmp_path):
  run = tmp_path / 'run'
  partial = run / 'checkpoints' / 'identity' / 'ckpt-200_temp'
  partial.mkdir(parents=True)
  (partial / 'part-00000-of-00001.index').write_bytes(b'')
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-m', 'training.main', '--config=demo', '--stage=identity',
                         '--steps=3', f'--run_dir={run}', '--noprogress', '--noserving_model'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert 'no complete checkpoint' in proc.stderr
  assert f'Remove {run / "checkpoints" / "identity"}' in proc.stderr
  assert 'Traceback' not in proc.stderr
