"""common.machine: the machine a benchmark names, CPU kernels (oneDNN) included."""

import os
import subprocess
import sys

import pytest

from common import machine

from tests.common.test_cli import REPO_ROOT


def test_describe_names_the_cpu_its_vector_isa_and_cores():
  info = machine.describe()
  assert info['cores'] == os.cpu_count()
  assert info['cpu']
  flags = open('/proc/cpuinfo').read().split() if os.path.exists('/proc/cpuinfo') else []
  assert ('avx2' in info['isa']) == ('avx2' in flags)
  assert ('avx512f' in info['isa']) == ('avx512f' in flags)


@pytest.mark.parametrize('onednn, expected', [('1', 'oneDNN on'), ('0', 'oneDNN off')])
def test_summary_says_whether_tensorflow_runs_onednn_kernels(onednn, expected):
  probe = 'from common import cli, machine\nimport tensorflow\nprint(machine.summary())'
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn)
  out = subprocess.run([sys.executable, '-c', probe], cwd=REPO_ROOT, env=env, check=True,
                       capture_output=True, text=True).stdout
  assert out.strip().endswith(expected), out
