"""Access to ``tf_ops.resources`` (shared material and cache paths) for the data package.

``tf_ops/__init__`` imports TensorFlow and the compiled rasterizer op; the data tools (and every Beam worker)
need neither for paths, so ``tf_ops/resources.py`` is loaded by file path unless already imported. Either
way the paths come from the one resolver in ``tf_ops.resources``.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

if 'tf_ops.resources' in sys.modules:
  resources = sys.modules['tf_ops.resources']
else:
  # By file path: importing the tf_ops package loads TensorFlow and the compiled op (seconds per Beam
  # worker), and fails while the op is not built; the resolver itself needs neither.
  _path = pathlib.Path(__file__).resolve().parent.parent / 'tf_ops' / 'resources.py'
  _spec = importlib.util.spec_from_file_location('_c3dmm_tf_ops_resources', _path)
  resources = importlib.util.module_from_spec(_spec)
  sys.modules[_spec.name] = resources
  _spec.loader.exec_module(resources)

shared_dir = resources.shared_dir
shared_path = resources.shared_path
cache_dir = resources.cache_dir

__all__ = ['cache_dir', 'shared_dir', 'shared_path']
