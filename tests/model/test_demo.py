import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from PIL import Image

from common import paths
from model import demo
from model import export


@pytest.mark.slow
def test_demo_writes_pictures_meshes_and_a_reloadable_model(tmp_path):
  run_dir = tmp_path / 'run'
  flags.FLAGS(['demo', f'--run_dir={run_dir}', '--grid_components=2', '--image_size=96'])
  try:
    demo.main([])
  finally:
    flags.FLAGS.unparse_flags()
  for name in ('poses_lightings.png', 'regions.png', 'basis_identity.png', 'basis_expression.png',
               'basis_albedo.png', 'template.obj', 'template.ply', 'template_uv.obj',
               'template_uv_albedo.png', 'model.npz', 'flags.txt'):
    assert (run_dir / name).exists(), name
  grid = np.asarray(Image.open(run_dir / 'basis_identity.png'))
  assert grid.shape == (2 * 98 - 2, 5 * 98 - 2, 3)
  # Modes of the smooth random identity basis actually change the rendering.
  tiles = [grid[:96, k * 98:k * 98 + 96].astype(float) for k in range(5)]
  assert np.abs(tiles[0] - tiles[2]).mean() > 1.0
  loaded = export.load_model(run_dir / 'model.npz')
  assert loaded.face_model.num_expression == 64


@pytest.mark.slow
def test_demo_runs_without_the_shared_folder_and_without_tensorflow_info_lines(tmp_path):
  """The main job needs only package data: C3DMM_SHARED points at an empty folder, cwd is elsewhere."""
  empty = tmp_path / 'empty_shared'
  empty.mkdir()
  env = dict(os.environ, C3DMM_SHARED=str(empty), PYTHONPATH=str(paths.REPO_ROOT))
  env.pop('TF_CPP_MIN_LOG_LEVEL', None)
  env.pop('C3DMM_VERBOSE', None)
  run_dir = tmp_path / 'run'
  proc = subprocess.run([sys.executable, '-m', 'model.demo', f'--run_dir={run_dir}', '--image_size=64',
                         '--grid_components=1'], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (run_dir / 'model.npz').exists() and (run_dir / 'poses_lightings.png').exists()
  assert json.loads((run_dir / 'model_config.json').read_text())['num_expression'] == 64
  for noise in ('oneDNN', 'cpu_feature_guard', 'This TensorFlow binary is optimized'):
    assert noise not in proc.stderr, proc.stderr[-2000:]
