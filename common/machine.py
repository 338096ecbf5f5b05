"""The machine a benchmark ran on, named the same way by every benchmark of the project.

A timing means little without the CPU it came from, and TensorFlow picks different CPU kernels by CPU:
on x86-64 CPUs with AVX-512 it turns oneDNN on by itself (``TF_ENABLE_ONEDNN_OPTS=1`` does so anywhere),
so two machines of one "x86_64, 2 cores" description can run different matrix products. ``describe()``
says which CPU model, which vector ISA and which TensorFlow CPU path a run had.
"""

from __future__ import annotations

import os
import pathlib
import platform
import sys

_ISA_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_tile')


def _cpuinfo() -> tuple[str, set[str]]:
  try:
    text = pathlib.Path('/proc/cpuinfo').read_text()
  except OSError:
    return platform.processor() or platform.machine(), set()
  model, flags = '', set()
  for line in text.splitlines():
    key, _, value = line.partition(':')
    if key.strip() == 'model name' and not model:
      model = value.strip()
    elif key.strip() == 'flags' and not flags:
      flags = set(value.split())
  return model or platform.processor() or platform.machine(), flags


def onednn_enabled() -> bool | None:
  """Whether TensorFlow's oneDNN CPU kernels are on in this process (None: TensorFlow not imported)."""
  if 'tensorflow' not in sys.modules:
    return None
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=import-outside-toplevel
    return bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    return None


def describe() -> dict:
  """The machine as a JSON-ready dict: CPU model, cores, vector ISA flags, oneDNN state, platform."""
  model, flags = _cpuinfo()
  return dict(cpu=model, cores=os.cpu_count(), arch=platform.machine(),
              isa=[f for f in _ISA_FLAGS if f in flags], onednn=onednn_enabled(),
              platform=platform.platform(), python=platform.python_version())


def summary(info: dict | None = None) -> str:
  """One line for a table's heading, e.g. ``AMD EPYC, 2 cores x86_64, avx2 fma avx512f, oneDNN on``."""
  info = info or describe()
  onednn = {True: 'oneDNN on', False: 'oneDNN off', None: 'no TensorFlow'}[info['onednn']]
  isa = ' '.join(info['isa']) or 'no AVX2'
  return f'{info["cpu"]}, {info["cores"]} cores {info["arch"]}, {isa}, {onednn}'
