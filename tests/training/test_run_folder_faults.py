"""A training run folder under faults: a concurrent run, interruptions (history kept), a full disk."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests import fs_faults
from tests.training import tiny
from training import trainer as trainer_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='2')


def _start_tiny(run_dir, steps, *args):
  return subprocess.Popen([sys.executable, '-m', 'tests.training.tiny', str(run_dir), 'pose', str(steps),
                           *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(predicate, proc, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    assert proc.poll() is None, f'the run ended early: {proc.stderr.read().decode()[-2000:]}'
    time.sleep(0.2)
  raise AssertionError('timed out')


def _checkpoint_step(run_dir):
  latest = tf.train.latest_checkpoint(str(run_dir / 'checkpoints' / 'pose'))
  return int(latest.rsplit('-', 1)[1]) if latest else 0


def _history_steps(run_dir):
  return [json.loads(l)['step'] for l in (run_dir / 'history' / 'pose.jsonl').read_text().splitlines()]


def test_a_second_run_on_a_run_folder_in_use_is_refused_and_the_lock_dies_with_its_holder(tmp_path):
  run = tmp_path / 'run'
  proc = _start_tiny(run, 100000, '--checkpoint_every=100000')
  try:
    _wait_for(lambda: (run / '.lock').exists() and f'pid {proc.pid}' in (run / '.lock').read_text(), proc)
    with pytest.raises(trainer_lib.InputError, match=f'Another training run \\(pid {proc.pid}'):
      trainer_lib.Trainer(tiny.TINY, run, progress=False)
  finally:
    proc.kill()
    proc.wait()
  trainer_lib.prepare_run_dir(run, tiny.TINY)  # SIGKILL released the lock


def test_history_keeps_every_step_across_sigterm_and_sigkill_and_resumes(tmp_path):
  run, steps = tmp_path / 'run', 60
  first = _start_tiny(run, steps, '--checkpoint_every=3')
  _wait_for(lambda: _checkpoint_step(run) >= 6, first)
  first.send_signal(signal.SIGTERM)
  first.wait(timeout=120)
  stopped_at = _checkpoint_step(run)
  assert _history_steps(run) == list(range(1, stopped_at + 1))
  second = _start_tiny(run, steps, '--checkpoint_every=3')
  _wait_for(lambda: _checkpoint_step(run) >= stopped_at + 6, second)
  second.kill()
  second.wait()
  last = subprocess.run([sys.executable, '-m', 'tests.training.tiny', str(run), 'pose', str(steps),
                         '--checkpoint_every=3'], cwd=ROOT, env=ENV, capture_output=True, text=True,
                        timeout=600)
  assert last.returncode == 0, last.stderr[-2000:]
  assert _history_steps(run) == list(range(1, steps + 1))


def test_a_full_disk_while_checkpointing_stops_cleanly_and_a_rerun_with_space_resumes(tmp_path):
  with fs_faults.small_tmpfs(tmp_path, '64m') as disk:
    run = disk / 'run'
    t = trainer_lib.Trainer(tiny.TINY, run, progress=False, checkpoint_every=2)
    t.run_stage('pose', steps=6, stop_at=2)
    filler = fs_faults.fill(disk, leave=400 << 10)  # room for events and history, not a 1 MB checkpoint
    with pytest.raises(trainer_lib.OutputError, match='(?i)free space'):
      t.run_stage('pose', steps=6)
    assert not list((run / 'checkpoints' / 'pose').glob('*_temp*'))
    assert _checkpoint_step(run) == 2
    filler.unlink()
    resumed = trainer_lib.Trainer(tiny.TINY, run, progress=False, checkpoint_every=2)
    summary = resumed.run_stage('pose', steps=6)
    assert summary['steps'] == 6 and summary['started_from'].endswith('ckpt-2')
    assert _history_steps(run) == list(range(1, 7))
