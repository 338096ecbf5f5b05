"""Faulty file systems for the tests: a small tmpfs (a full disk) and a read-only folder.

``small_tmpfs(tmp_path, size)`` mounts a tmpfs of ``size`` (``mount -t tmpfs -o size=...``; needs root) and
unmounts it at the end; it skips the test, saying why, where it cannot. ``fill(folder)`` fills the file
system of ``folder`` to the last byte (the returned file is the filler: remove it to free the space).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess

import pytest


@contextlib.contextmanager
def small_tmpfs(tmp_path: pathlib.Path, size: str = '64m'):
  """A mounted tmpfs of ``size`` under ``tmp_path`` (the test is skipped when not root or mount fails)."""
  if os.geteuid() != 0:
    pytest.skip('a full disk needs a small tmpfs, and mounting one needs root')
  mount = tmp_path / 'tmpfs'
  mount.mkdir()
  res = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mount)],
                       capture_output=True, text=True, check=False)
  if res.returncode != 0:
    pytest.skip(f'cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}')
  try:
    yield mount
  finally:
    subprocess.run(['umount', '-l', str(mount)], capture_output=True, check=False)


def fill(folder: pathlib.Path, leave: int = 0) -> pathlib.Path:
  """Writes ``folder/filler`` until the file system is full, then frees ``leave`` bytes; returns it."""
  filler = folder / 'filler'
  chunk = b'\0' * (1 << 20)
  with open(filler, 'wb', buffering=0) as f:
    try:
      while True:
        f.write(chunk)
    except OSError:
      pass
    try:  # the last partial megabyte
      while True:
        f.write(b'\0' * 4096)
    except OSError:
      pass
  if leave:
    os.truncate(filler, max(0, filler.stat().st_size - leave))
  return filler


@contextlib.contextmanager
def read_only(folder: pathlib.Path):
  """``folder`` made read-only with a read-only bind mount (root; root ignores mode bits), else chmod."""
  folder.mkdir(parents=True, exist_ok=True)
  if os.geteuid() == 0:
    res = subprocess.run(['mount', '--bind', '-o', 'ro', str(folder), str(folder)], capture_output=True,
                         check=False)
    if res.returncode != 0:
      pytest.skip('cannot make a read-only bind mount here (root ignores file modes)')
    try:
      yield folder
    finally:
      subprocess.run(['umount', '-l', str(folder)], capture_output=True, check=False)
  else:
    folder.chmod(0o555)
    try:
      yield folder
    finally:
      folder.chmod(0o755)
