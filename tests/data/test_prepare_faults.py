"""data.prepare under faults: a full disk (no hang, nothing half-written), shards kept wave by wave across a
SIGKILL, an output path that is a file, and one-line usage errors."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests import fs_faults

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(REPO))
FAST = ['--kind=folder', '--min_face_size=100', '--noprogress', '--direct_running_mode=in_memory',
        '--direct_num_workers=1']


def _photos(shared_dir, folder, names=('obama.jpg',)):
  folder.mkdir(parents=True, exist_ok=True)
  for n in names:
    shutil.copy(shared_dir / 'media' / 'photos' / n, folder / n)
  return folder


def _prepare(*args, timeout=300):
  return subprocess.run([sys.executable, '-m', 'data.prepare', *FAST, *args], cwd=REPO, env=ENV,
                        capture_output=True, text=True, timeout=timeout)


def test_a_full_disk_ends_with_a_message_and_exit_2_and_leaves_no_temporary_shard(tmp_path, shared_dir):
  media = _photos(shared_dir, tmp_path / 'media')
  with fs_faults.small_tmpfs(tmp_path, '2m') as disk:
    out = disk / 'out'
    out.mkdir()
    fs_faults.fill(disk, leave=8 << 10)  # the manifest and the lock fit, a shard does not
    res = _prepare(f'--input={media}', f'--output={out}', timeout=150)  # it used to hang here
    assert res.returncode == 2, res.stderr[-2000:]
    assert 'could not be written' in res.stderr or 'cannot write' in res.stderr
    assert 'Traceback' not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not list(out.glob('*.tmp*'))


def test_finished_waves_survive_a_sigkill_and_are_reused(tmp_path, shared_dir):
  media = _photos(shared_dir, tmp_path / 'media', ('obama.jpg', 'obama2.jpg'))  # shards 1 and 0
  out = tmp_path / 'out'
  args = [f'--input={media}', f'--output={out}', '--num_shards=2', '--shards_per_wave=1']
  proc = subprocess.Popen([sys.executable, '-m', 'data.prepare', *FAST, *args], cwd=REPO, env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not list(out.glob('*-of-00002.json')) and time.time() < deadline and proc.poll() is None:
    time.sleep(0.05)
  still_running = proc.poll() is None
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert still_running, 'no shard was on disk before the run ended (shards written in one burst)'
  res = _prepare(*args)
  assert res.returncode == 0, res.stderr[-2000:]
  report = json.loads((out / 'report.json').read_text())
  assert report['shards_skipped_as_finished'] >= 1 and report['records'] == 2, report


def test_an_output_path_that_is_a_file_and_a_missing_flag_give_one_line_not_a_help_dump(tmp_path, shared_dir):
  media = _photos(shared_dir, tmp_path / 'media')
  (tmp_path / 'file').write_text('x')
  res = _prepare(f'--input={media}', f'--output={tmp_path / "file"}')
  assert res.returncode == 2 and 'is a file, not a folder' in res.stderr, res.stderr[-2000:]
  assert len(res.stderr.strip().splitlines()) == 1
  res = _prepare(f'--input={media}')
  assert res.returncode == 2 and '--input and --output are required' in res.stderr
  assert len(res.stderr.strip().splitlines()) == 1
