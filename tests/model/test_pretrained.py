"""The packaged (pretrained) model: packaging a run, loading it, refusing damaged files, and the model
shipped with the package (loads, matches its model card, reconstructs a shared photo with no --model)."""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

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
