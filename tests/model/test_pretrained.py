"""The packaged (pretrained) model: packaging a run, loading it, refusing damaged files, and the model
shipped with the package (loads, matches its model card, reconstructs a shared photo with no --model)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from common import paths
from model import autoencoder as autoencoder_lib
from model import pretrained
from model import reconstruction
from tests.eval import tiny_run

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def packaged(tmp_path_factory):
  run = tiny_run.make_run(tmp_path_factory.mktemp('pretrained') / 'run')
  out = run.parent / 'packaged'
  manifest = pretrained.package(run, out)
  return run, out, manifest


def _outputs(ae, seed=1):
  s, nf = ae.model_config.image_size, ae.model_config.num_frames
  rng = np.random.default_rng(seed)
  images = tf.constant(rng.uniform(0, 1, (1, nf, s, s, 3)).astype(np.float32))
  landmarks = tf.constant(rng.uniform(0.3 * s, 0.7 * s, (1, nf, 68, 2)).astype(np.float32))
  return ae(images, landmarks if ae.encoder_config.landmark_input else None)['vertices'].numpy()


def test_packaged_run_reconstructs_like_the_run_within_float16_rounding(packaged):
  run, out, manifest = packaged
  original = autoencoder_lib.Autoencoder.from_run_dir(run)
  loaded = reconstruction.load_autoencoder(out)
  assert 'packaged from' in loaded.restored_from
  a, b = _outputs(original), _outputs(loaded)
  err_mm = np.linalg.norm(a - b, axis=-1).mean() * 10.0
  assert err_mm < 0.05, err_mm
  # Stored as float16, and the manifest records the configuration and files it was made of.
  with np.load(out / pretrained.WEIGHTS_FILE) as data:
    assert {data[k].dtype for k in data.files} == {np.dtype(np.float16)}
  cfg = json.loads((run / autoencoder_lib.CONFIG_FILE).read_text())
  assert manifest['config_hash'] == cfg['hash']
  assert manifest['weights_sha256'] == pretrained.sha256(out / pretrained.WEIGHTS_FILE)
  assert 0.0 < manifest['float16_vertex_rounding_mm'] < 0.05


def test_a_changed_weights_file_is_refused_with_the_reason(packaged, tmp_path):
  _, out, _ = packaged
  bad = tmp_path / 'bad'
  bad.mkdir()
  for name in (pretrained.CONFIG_FILE, pretrained.MANIFEST_FILE, pretrained.WEIGHTS_FILE):
    (bad / name).write_bytes((out / name).read_bytes())
  data = bytearray((bad / pretrained.WEIGHTS_FILE).read_bytes())
  data[len(data) // 2] ^= 0xFF
  (bad / pretrained.WEIGHTS_FILE).write_bytes(bytes(data))
  with pytest.raises(reconstruction.NotAModelError, match='differs from the manifest'):
    reconstruction.load_autoencoder(bad)
  (bad / pretrained.WEIGHTS_FILE).unlink()
  with pytest.raises(reconstruction.NotAModelError):
    reconstruction.load_autoencoder(bad)


def test_shipped_model_loads_and_matches_its_model_card():
  manifest = pretrained.verify()
  assert manifest['weights_bytes'] <= pretrained.MAX_WEIGHTS_BYTES
  card = (pretrained.PACKAGE_DIR / pretrained.MODEL_CARD_FILE).read_text()
  assert manifest['config_hash'] in card and manifest['weights_sha256'] in card
  cfg = json.loads((pretrained.PACKAGE_DIR / pretrained.CONFIG_FILE).read_text())
  assert cfg['hash'] == manifest['config_hash']
  ae = reconstruction.load_autoencoder(None)
  # A learned model, not its initialisation: the bases moved far from where the seed put them.
  init = autoencoder_lib.Autoencoder(ae.model_config, ae.encoder_config, seed=cfg['seed'],
                                     basis_init_stddev=tuple(cfg['basis_init_stddev']))
  init.build_all()
  for learned, start in ((ae.face_model.m_gid, init.face_model.m_gid), (ae.face_model.m_gexp,
                                                                         init.face_model.m_gexp)):
    assert float(tf.norm(learned - start) / tf.norm(start)) > 0.5
  assert re.search(r'research', card, re.I)


def test_reconstruct_cli_uses_the_shipped_model_when_no_model_is_given(tmp_path):
  photo = paths.shared_path('media', 'photos', 'obama.jpg')
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  res = subprocess.run([sys.executable, '-m', 'eval.reconstruct', f'--input={photo}',
                        f'--output={tmp_path / "out"}', '--noprogress'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
  assert res.returncode == 0, res.stderr[-2000:]
  summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
  assert str(pretrained.PACKAGE_DIR) in summary['model']
  params = json.loads(next((tmp_path / 'out').rglob('params.json')).read_text())
  lm = np.asarray(params['landmarks68_image_px'], np.float64).reshape(-1, 68, 2)[0]
  box = np.asarray(params['face_box'], np.float64).reshape(-1, 4)[0]
  # The projected landmarks lie on the detected face: their box overlaps the detection's.
  lo, hi = lm.min(0), lm.max(0)
  inter = np.prod(np.clip(np.minimum(hi, box[2:]) - np.maximum(lo, box[:2]), 0, None))
  union = np.prod(hi - lo) + np.prod(box[2:] - box[:2]) - inter
  assert inter / union > 0.5, (lo, hi, box)
