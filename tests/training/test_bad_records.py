"""Training on bad TFRecords: bad records are skipped and counted; a source of only bad ones stops cleanly."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.data import test_pipeline_bad_records as bad_files
from tests.training import tiny
from training import trainer as trainer_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_training_skips_and_counts_bad_records_and_finishes(tmp_path, capsys):
  data = tmp_path / 'data'
  data.mkdir()
  bad_files.bad_record_files(data, np.random.default_rng(0))
  t = trainer_lib.Trainer(tiny.TINY, tmp_path / 'run', data=str(data / '*.tfrecord'), progress=False)
  summary = t.run_stage('pose', steps=8)
  assert summary['steps'] == 8 and summary['bad_records'] >= 1, summary
  assert 'unreadable record' in capsys.readouterr().out
  assert t.bad_records_total == summary['bad_records']


def test_main_on_records_that_are_all_bad_exits_2_with_a_message_and_no_hang(tmp_path):
  data = tmp_path / 'data'
  data.mkdir()
  bad_files.write_all_bad(data / 'bad.tfrecord', np.random.default_rng(3))
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-m', 'training.main', '--config=demo', '--stage=pose', '--steps=3',
                         f'--run_dir={tmp_path / "run"}', f'--data={data / "*.tfrecord"}', '--noprogress',
                         '--max_bad_records=5', '--noserving_model'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert 'unreadable records in a row' in proc.stderr
  assert 'Traceback' not in proc.stderr and 'terminate called' not in proc.stderr


def test_files_that_all_start_unreadable_are_refused_before_training(tmp_path):
  (tmp_path / 'a.tfrecord').write_bytes(np.random.default_rng(4).bytes(2000))
  (tmp_path / 'b.tfrecord').write_bytes(b'\x00' * 40)
  with pytest.raises(trainer_lib.InputError, match='starts with a readable record'):
    trainer_lib.check_records(str(tmp_path / '*.tfrecord'))
