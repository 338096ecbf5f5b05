"""common.cli: what every command-line program of the project does at start-up."""

from __future__ import annotations

import os
import pathlib
import platform
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

_PROBE = '''
from common import cli
print(cli.MALLOC_TUNED)
'''


def _tuned(**env) -> str:
  environment = {k: v for k, v in os.environ.items() if not k.startswith(('MALLOC_', 'C3DMM_MALLOC'))}
  environment.update(env)
  return subprocess.run([sys.executable, '-c', _PROBE], cwd=REPO_ROOT, env=environment, check=True,
                        capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='the malloc settings are glibc ones')
def test_cli_keeps_freed_memory_unless_the_user_opts_out_or_set_malloc_variables():
  assert _tuned() == 'True'
  assert _tuned(C3DMM_MALLOC_TUNING='0') == 'False'
  assert _tuned(MALLOC_TRIM_THRESHOLD_='1000000') == 'False'  # the user's own settings win


def test_cli_hides_tensorflow_info_logs_unless_verbose():
  probe = 'import os; from common import cli; print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"))'
  environment = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'C3DMM_VERBOSE')}
  quiet = subprocess.run([sys.executable, '-c', probe], cwd=REPO_ROOT, env=environment, check=True,
                         capture_output=True, text=True).stdout.strip()
  verbose = subprocess.run([sys.executable, '-c', probe], cwd=REPO_ROOT,
                           env=dict(environment, C3DMM_VERBOSE='1'), check=True, capture_output=True,
                           text=True).stdout.strip()
  assert (quiet, verbose) == ('2', 'None')
