"""common.cli: what every command-line program of the project does at start-up."""

from __future__ import annotations

import os
import pathlib
import platform
import subprocess
import sys

import pytest

from common import cli

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


# Entry points a user runs every day; each imports common.cli first, then TensorFlow (usage errors exit
# after the import, so the start-up lines would show).
_CLIS = ('training.main', 'training.demo', 'eval.report', 'eval.reconstruct', 'data.prepare')
_STARTUP_LINES = ('All log messages before absl::InitializeLog', 'oneDNN custom operations',
                  'cpu_feature_guard', 'This TensorFlow binary is optimized')


def _cli_stderr(module: str, onednn: str, **env) -> str:
  environment = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'C3DMM_VERBOSE')}
  environment.update(env, TF_ENABLE_ONEDNN_OPTS=onednn, PYTHONPATH=str(REPO_ROOT))
  proc = subprocess.run([sys.executable, '-m', module, '--no_such_flag'], cwd=REPO_ROOT, env=environment,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0 and 'no_such_flag' in proc.stderr, proc.stderr[-2000:]
  return proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('onednn', ['0', '1'])
@pytest.mark.parametrize('module', _CLIS)
def test_cli_starts_without_tensorflow_startup_lines_with_onednn_on_and_off(module, onednn):
  stderr = _cli_stderr(module, onednn)
  for line in _STARTUP_LINES:
    assert line not in stderr, stderr[-2000:]


def test_verbose_cli_shows_the_onednn_notice_and_onednn_stays_on():
  environment = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'C3DMM_VERBOSE')}
  verbose = subprocess.run([sys.executable, '-c', 'from common import cli\nimport tensorflow'], cwd=REPO_ROOT,
                           check=True, capture_output=True, text=True,
                           env=dict(environment, TF_ENABLE_ONEDNN_OPTS='1', C3DMM_VERBOSE='1')).stderr
  assert 'oneDNN custom operations are on' in verbose, verbose[-2000:]
  probe = ('from common import cli\nfrom tensorflow.python.util import _pywrap_util_port\n'
           'print(_pywrap_util_port.IsMklEnabled())')
  for onednn, enabled in (('1', 'True'), ('0', 'False')):
    proc = subprocess.run([sys.executable, '-c', probe], cwd=REPO_ROOT, check=True, capture_output=True,
                          text=True, env=dict(environment, TF_ENABLE_ONEDNN_OPTS=onednn))
    assert proc.stdout.strip() == enabled  # quieting the notice leaves TensorFlow's choice alone


def test_startup_filter_drops_only_tensorflow_startup_notices():
  text = ('WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n'
          'I0000 00:00:1796632164.547311    2211 port.cc:153] oneDNN custom operations are on. You may see\n'
          'I0000 00:00:1796632179.242577    2246 cpu_feature_guard.cc:227] This TensorFlow binary is\n'
          'To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow '
          'with the appropriate compiler flags.\n'
          'E0000 00:00:1796632179.242577    2246 cuda_dnn.cc:8] a real error\n'
          'UserWarning: something else\n')
  kept = 'E0000 00:00:1796632179.242577    2246 cuda_dnn.cc:8] a real error\nUserWarning: something else\n'
  assert cli.filter_startup_noise(text) == kept
