"""Quiet start-up for the project's command-line programs.

Import this module FIRST in every ``__main__`` module (before TensorFlow is imported anywhere)::

    from common import cli  # noqa: F401  (must precede TensorFlow)

It hides TensorFlow's C++ info and warning lines (oneDNN notices, CPU feature guard) unless the user asks
for verbose logs with ``C3DMM_VERBOSE=1`` or sets ``TF_CPP_MIN_LOG_LEVEL`` themselves. ``run(main)`` wraps
``absl.app.run`` and lowers absl/TensorFlow Python logging to warnings unless ``--verbosity`` is raised.
"""

from __future__ import annotations

import os

VERBOSE = os.environ.get('C3DMM_VERBOSE', '') not in ('', '0')
if not VERBOSE:
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # 2: errors only (hides INFO and WARNING lines)


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
