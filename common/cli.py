"""Quiet start-up for the project's command-line programs.

Import this module FIRST in every ``__main__`` module (before TensorFlow is imported anywhere)::

    from common import cli  # noqa: F401  (must precede TensorFlow)

It hides TensorFlow's C++ info and warning lines (oneDNN notices, CPU feature guard) unless the user asks
for verbose logs with ``C3DMM_VERBOSE=1`` or sets ``TF_CPP_MIN_LOG_LEVEL`` below 1 themselves, and makes
glibc keep freed memory for reuse (``keep_freed_memory``). Some of those lines are written while
TensorFlow's shared libraries load, before absl's logging is initialised, where ``TF_CPP_MIN_LOG_LEVEL`` is
not yet honoured (on CPUs with AVX-512 TensorFlow turns oneDNN on by itself and says so, twice):
``import_tensorflow_quietly`` imports TensorFlow with the process's stderr captured and passes on every
line except those start-up notices. oneDNN itself is left as TensorFlow chooses. ``run(main)`` wraps
``absl.app.run`` and lowers absl/TensorFlow Python logging to warnings unless ``--verbosity`` is raised.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import sys
import tempfile

VERBOSE = os.environ.get('C3DMM_VERBOSE', '') not in ('', '0')
if not VERBOSE:
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # 2: errors only (hides INFO and WARNING lines)

# glibc malloc settings of keep_freed_memory(): blocks up to 32 MiB (glibc's largest mmap threshold) come
# from the heap, and freed memory is returned to the system only beyond 1 GiB of free heap top.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 1 << 30


def keep_freed_memory() -> bool:
  """Makes glibc keep the memory a training step frees for the next step (returns whether it did).

  A CPU step allocates and frees the same few MB of images and gradients every time; with glibc's
  defaults part of that goes back to the system and is faulted in again (measured: ~650 page faults per
  ``model.benchmark`` step, against ~5 with these settings). Done by every CLI of the project at start-up
  (this module); skipped where the C library is not glibc, where the user set ``MALLOC_MMAP_THRESHOLD_`` or
  ``MALLOC_TRIM_THRESHOLD_``, or with ``C3DMM_MALLOC_TUNING=0``. The cost: the process keeps its peak heap.
  """
  if os.environ.get('C3DMM_MALLOC_TUNING', '1').strip() == '0' or platform.libc_ver()[0] != 'glibc':
    return False
  if 'MALLOC_MMAP_THRESHOLD_' in os.environ or 'MALLOC_TRIM_THRESHOLD_' in os.environ:
    return False
  try:
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
  except (OSError, AttributeError):
    return False


MALLOC_TUNED = keep_freed_memory()

# TensorFlow's start-up notices, written to fd 2 while its libraries load (before absl::InitializeLog()):
# absl's preamble, the oneDNN notice (port.cc) and the CPU feature guard with its continuation line.
STARTUP_NOISE = re.compile(
    r'^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR'
    r'|[IW]\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\] .*'
    r'|To enable the following instructions: .*in other operations, rebuild TensorFlow with the '
    r'appropriate compiler flags\.)$')


def _hides_info_logs() -> bool:
  try:
    return int(os.environ.get('TF_CPP_MIN_LOG_LEVEL', '0')) >= 1
  except ValueError:
    return True


def filter_startup_noise(text: str) -> str:
  """``text`` without TensorFlow's start-up notices (``STARTUP_NOISE``), other lines kept in order."""
  lines = text.splitlines(keepends=True)
  return ''.join(line for line in lines if not STARTUP_NOISE.match(line.rstrip('\n')))


def import_tensorflow_quietly() -> bool:
  """Imports TensorFlow with its start-up notices dropped from stderr (returns whether it filtered).

  Does nothing when verbose, when info logs are not hidden (``TF_CPP_MIN_LOG_LEVEL`` < 1), when TensorFlow
  is already imported or when stderr is no file descriptor. Anything else written during the import
  (errors, warnings of other libraries) is passed on to stderr unchanged; an ``ImportError`` (no
  TensorFlow in this environment) is left to the module that needs TensorFlow.
  """
  if VERBOSE or not _hides_info_logs() or 'tensorflow' in sys.modules:
    return False
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError, AttributeError):
    return False
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
      pass
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      rest = filter_startup_noise(captured.read().decode('utf-8', errors='replace'))
      if rest:
        os.write(2, rest.encode('utf-8'))
  return True


import_tensorflow_quietly()


def quiet_python_logging() -> None:
  """Lowers TensorFlow's Python logger to errors (unless verbose)."""
  if VERBOSE:
    return
  import logging  # pylint: disable=import-outside-toplevel
  logging.getLogger('tensorflow').setLevel(logging.ERROR)


def run(main) -> None:
  """``absl.app.run(main)`` with quiet TensorFlow logging."""
  from absl import app  # pylint: disable=import-outside-toplevel
  quiet_python_logging()
  app.run(main)
