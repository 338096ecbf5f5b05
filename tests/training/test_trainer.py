"""training.trainer: stage variables, learning, resume, NaN steps, bad input, SIGKILL, tf.distribute."""

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from data import schema
from data import synthetic_stream
from model import autoencoder
from tests.training import tiny
from training import config as config_lib
from training import trainer as trainer_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _snapshot(t):
  return {k: v.numpy().copy() for k, v in t.ae.checkpoint_tree().variables_by_path.items()}


def _changed(a, b):
  return {k for k in a if not np.array_equal(a[k], b[k])}


def _groups(t):
  """Variable path -> group name."""
  paths = {id(v): k for k, v in t.ae.checkpoint_tree().variables_by_path.items()}
  return {paths[id(v)]: g for g, vs in t.ae.variable_groups().items() for v in vs}


def test_each_stage_changes_exactly_its_variables(tmp_path):
  # Every stage of the curriculum, the render-free expression stage (on a pooled stream) included.
  cfg = dataclasses.replace(tiny.TINY, stages=config_lib.make_stages(10, 10, 10, 3e-3, expression_steps=10,
                                                                     sample_pool=4))
  assert [s.name for s in cfg.stages] == list(config_lib.STAGE_NAMES)
  t = trainer_lib.Trainer(cfg, tmp_path, progress=False)
  groups = _groups(t)
  m_e = tiny.MODEL.num_expression
  head = [k for k, g in groups.items() if g == 'per_frame_head' and k.endswith('kernel')][0]
  for stage in config_lib.STAGE_NAMES:
    before = _snapshot(t)
    t.run_stage(stage, stop_at=2)
    after = _snapshot(t)
    changed = {groups.get(k, k) for k in _changed(before, after)}
    # The encoder's landmark standardisation is set once, at the start of a fresh run (not trained).
    standardisation = {k for k in changed if 'landmark_mean' in k or 'landmark_std' in k}
    assert bool(standardisation) == (stage == 'pose' and tiny.TINY.encoder.landmark_input), stage
    changed -= standardisation
    assert changed == set(cfg.stage(stage).trainable), stage
    cols = np.any(before[head] != after[head], axis=0)  # which per-frame outputs moved
    if stage == 'pose':  # only the pose columns (the last 6): expression and SH stay at their init
      assert not cols[:-6].any() and cols[-6:].all()
    elif stage == 'identity':  # expression forced to zero: its columns stay
      assert not cols[:m_e].any() and cols[m_e:].any()
    else:
      assert cols[:m_e].any()


def _one_sample_input(stage, cfg, data, neutral_data, position, deterministic=False, max_bad_records=None):
  ds = synthetic_stream.make_stream(stage.data, batch_size=None, seed=5, num_frames=cfg.model.num_frames,
                                    count=1, prefetch=False)
  return ds.cache().repeat().batch(cfg.batch_size)


def test_short_run_on_one_sample_lowers_the_total_loss(tmp_path, monkeypatch):
  monkeypatch.setattr(trainer_lib, 'make_input', _one_sample_input)
  t = trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False)
  t.run_stage('pose', steps=40)
  rows = [json.loads(l) for l in (tmp_path / 'history' / 'pose.jsonl').read_text().splitlines()]
  first, last = rows[0]['total'], np.mean([r['total'] for r in rows[-3:]])
  assert last < 0.3 * first, (first, last)


def test_ten_steps_equal_five_plus_resume_plus_five(tmp_path):
  straight = trainer_lib.Trainer(tiny.TINY, tmp_path / 'a', progress=False)
  straight.run_stage('pose', steps=10)
  first = trainer_lib.Trainer(tiny.TINY, tmp_path / 'b', progress=False)
  assert first.run_stage('pose', steps=10, stop_at=5)['steps'] == 5
  resumed = trainer_lib.Trainer(tiny.TINY, tmp_path / 'b', progress=False)
  summary = resumed.run_stage('pose', steps=10)
  assert summary['started_from'].endswith('ckpt-5')
  a, b = _snapshot(straight), _snapshot(resumed)
  for k in a:
    np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)
  assert _changed(_snapshot(first), a)  # the last 5 steps did something


def _nan_input(bad_positions):
  def make(stage, cfg, data, neutral_data, position, deterministic=False, max_bad_records=None):
    ds = _one_sample_input(stage, cfg, data, neutral_data, position).unbatch()
    ds = ds.enumerate(position).map(
        lambda i, x: {**x, 'image': tf.where(tf.reduce_any(tf.equal(i, bad_positions)), np.nan, x['image'])})
    return ds.batch(cfg.batch_size)
  return make


def test_injected_nan_step_is_skipped_and_counted(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(trainer_lib, 'make_input', _nan_input(tf.constant([2], tf.int64)))
  t = trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False)
  summary = t.run_stage('pose', steps=4)
  assert summary['skipped'] == 1 and t.bad_steps_total == 1
  assert 'step 2: non-finite' in capsys.readouterr().out


def test_consecutive_nan_steps_stop_with_a_clear_message_keeping_the_last_checkpoint(tmp_path, monkeypatch):
  monkeypatch.setattr(trainer_lib, 'make_input', _nan_input(tf.range(5, 100, dtype=tf.int64)))
  t = trainer_lib.Trainer(tiny.TINY, tmp_path, progress=False)
  good = None
  with pytest.raises(trainer_lib.TrainingDiverged, match='3 non-finite steps in a row'):
    t.run_stage('pose', steps=20)
  good = _snapshot(t)
  latest = tf.train.latest_checkpoint(str(t.stage_dir('pose')))
  assert latest.endswith('ckpt-5')
  restored = autoencoder.Autoencoder.from_run_dir(tmp_path, stage='pose')
  for k, v in restored.checkpoint_tree().variables_by_path.items():
    np.testing.assert_array_equal(v.numpy(), good[k])  # the skipped steps changed nothing


def _write_records(path, version):
  ex = tf.train.Example()
  ex.features.feature['meta/schema_version'].int64_list.value[:] = [version]
  with tf.io.TFRecordWriter(str(path)) as w:
    w.write(ex.SerializeToString())


def test_bad_input_stops_at_once_with_a_clear_message(tmp_path):
  with pytest.raises(trainer_lib.InputError, match='No TFRecord files match'):
    trainer_lib.check_records(str(tmp_path / 'missing-*.tfrecord'))
  (tmp_path / 'empty.tfrecord').write_bytes(b'')
  with pytest.raises(trainer_lib.InputError, match='all empty'):
    trainer_lib.check_records(str(tmp_path / 'empty.tfrecord'))
  _write_records(tmp_path / 'old.tfrecord', schema.SCHEMA_VERSION + 7)
  with pytest.raises(trainer_lib.InputError, match='schema version'):
    trainer_lib.check_records(str(tmp_path / 'old.tfrecord'))
  blocker = tmp_path / 'a_file'
  blocker.write_text('x')
  with pytest.raises(trainer_lib.InputError, match='Cannot write to the run folder'):
    trainer_lib.prepare_run_dir(blocker / 'run', tiny.TINY)
  with pytest.raises(ValueError, match='Unknown stage'):
    tiny.TINY.stage('warmup')


def test_run_folder_records_config_with_hash_and_refuses_another_config(tmp_path):
  trainer_lib.prepare_run_dir(tmp_path, tiny.TINY)
  saved = json.loads((tmp_path / 'config.json').read_text())
  assert saved['hash'] == tiny.TINY.hash() and saved['model'] == tiny.MODEL.to_dict()
  assert config_lib.TrainConfig.from_dict(saved) == tiny.TINY
  with pytest.raises(trainer_lib.InputError, match='another configuration'):
    trainer_lib.prepare_run_dir(tmp_path, tiny.with_batch(tiny.TINY, 3))


def _run_tiny(args, timeout=600):
  env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run([sys.executable, '-m', 'tests.training.tiny', *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _result(proc):
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')][-1]
  return json.loads(line[len('RESULT '):])


def test_sigkilled_run_resumes_from_its_last_checkpoint(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.Popen([sys.executable, '-m', 'tests.training.tiny', str(tmp_path), 'pose', '1000',
                           '--checkpoint_every=2'], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  ckpt_dir = tmp_path / 'checkpoints' / 'pose'
  deadline = time.time() + 400
  while time.time() < deadline and not tf.train.latest_checkpoint(str(ckpt_dir)):
    time.sleep(1)
  time.sleep(2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  latest = tf.train.latest_checkpoint(str(ckpt_dir))
  assert latest, 'no checkpoint was written before the kill'
  saved_step = int(latest.rsplit('-', 1)[1])
  result = _result(_run_tiny([str(tmp_path), 'pose', '1000', f'--stop_at={saved_step + 2}']))
  assert result['summary']['started_from'].endswith(f'ckpt-{saved_step}')
  assert result['summary']['steps'] == saved_step + 2


def test_two_replica_step_equals_one_replica_step_on_the_same_global_batch(tmp_path):
  mirrored = _result(_run_tiny([str(tmp_path / 'm'), 'pose', '10', '--stop_at=1', '--mirrored']))
  single = _result(_run_tiny([str(tmp_path / 's'), 'pose', '10', '--stop_at=1', '--batch=2']))
  assert mirrored['values'].keys() == single['values'].keys()
  moved = False
  for k in single['values']:
    a, b = np.asarray(mirrored['values'][k]), np.asarray(single['values'][k])
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=k)
    moved |= bool(np.any(a != 0))
  assert moved


def test_config_overrides_change_weights_and_steps_and_the_hash_and_reject_unknown_names():
  cfg = config_lib.override(config_lib.DEMO, loss_weights=config_lib.parse_assignments(['lip=0'], 'x'),
                            stage_steps={'combined': 1000})
  assert cfg.losses.lip == 0.0 and cfg.losses.landmark == config_lib.DEMO.losses.landmark
  assert [s.steps for s in cfg.stages] == [s.steps for s in config_lib.DEMO.stages[:-1]] + [1000]
  assert cfg.hash() != config_lib.DEMO.hash()
  assert [s.steps for s in config_lib.override(cfg, step_scale=0.5).stages][-1] == 500
  with pytest.raises(ValueError, match='Unknown loss weight'):
    config_lib.override(config_lib.DEMO, loss_weights={'lips': 0})
  with pytest.raises(ValueError, match='Unknown stage'):
    config_lib.override(config_lib.DEMO, stage_steps={'warmup': 3})
  with pytest.raises(ValueError, match='NAME=VALUE'):
    config_lib.parse_assignments(['lip'], '--loss_weights')


def test_main_rejects_an_unknown_loss_weight_with_exit_status_2(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-m', 'training.main', f'--run_dir={tmp_path / "run"}',
                         '--loss_weights=lipz=0'], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 2 and 'Unknown loss weight' in proc.stderr, proc.stderr[-2000:]
  assert not (tmp_path / 'run').exists()


def test_adam_fused_update_equals_the_textbook_formula_with_scales_and_cosine_decay():
  rng = np.random.default_rng(0)
  shapes = [(30, 4), (7,)]
  init = [rng.normal(size=s).astype(np.float32) for s in shapes]
  grads = [[rng.normal(size=s).astype(np.float32) * (1e-4 if k == 1 else 1.0) for s in shapes]
           for k in range(4)]
  variables = [tf.Variable(x) for x in init]
  opt = trainer_lib.Adam(variables, 1e-2, 10, [1.0, 0.5])
  for g in grads:
    opt.apply([tf.constant(x) for x in g])
  expected = [x.astype(np.float64) for x in init]
  m = [np.zeros(s) for s in shapes]
  v = [np.zeros(s) for s in shapes]
  for t, g in enumerate(grads, start=1):
    lr = 1e-2 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * (t - 1) / 10)))
    for i, scale in enumerate([1.0, 0.5]):
      m[i] = 0.9 * m[i] + 0.1 * g[i]
      v[i] = 0.999 * v[i] + 0.001 * g[i].astype(np.float64) ** 2
      expected[i] -= lr * scale * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
  for var, e in zip(variables, expected):
    np.testing.assert_allclose(var.numpy(), e, rtol=1e-5, atol=1e-6)
