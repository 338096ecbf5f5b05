r"""The pretrained model shipped with the package, and how to package one from a training run.

  python -m model.pretrained --run_dir=runs/reference              # package a run (scripts/train_release.sh)
  python -m model.pretrained --check                               # verify the shipped files

A packaged model is a folder (``PACKAGE_DIR`` for the shipped one) of:

* ``config.json``: the run's training configuration (``training.config.TrainConfig.to_dict``; its ``model``
  and ``encoder`` sections rebuild the network) and its ``hash``;
* ``weights.npz``: every variable of ``model.autoencoder.Autoencoder.checkpoint_tree`` (the encoder and the
  learned bases), keyed ``<index>_<name>``, stored as float16 (the bases' and weights' float16 rounding
  moves reconstructed vertices by well under 0.01 mm; ``package`` measures it and writes it down);
* ``manifest.json``: sha256 of ``weights.npz`` and ``config.json``, the configuration hash, the source run
  and its checkpoint, and the float16 rounding error.

``model.reconstruction.load_autoencoder`` reads such a folder like a run folder, and takes the shipped one
when no model is given, so ``eval.reconstruct``, ``eval.transfer`` and ``training.main --stage=personalize``
work without ``--model``.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import hashlib
import json
import pathlib
import shutil
import sys

import numpy as np

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent / 'pretrained'
CONFIG_FILE = 'config.json'  # same name as a run folder's (model.autoencoder.CONFIG_FILE)
WEIGHTS_FILE = 'weights.npz'
MANIFEST_FILE = 'manifest.json'
MODEL_CARD_FILE = 'MODEL_CARD.md'
# The most bytes the packaged weights may take (issue 22: the shipped model is at most 10 MB).
MAX_WEIGHTS_BYTES = 10 * 1024 * 1024


class PretrainedError(ValueError):
  """A packaged model folder that is missing, incomplete or does not match its manifest."""


def sha256(path: pathlib.Path) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


def is_packaged(folder: pathlib.Path) -> bool:
  """Whether ``folder`` is a packaged model (has ``weights.npz`` and ``manifest.json``)."""
  folder = pathlib.Path(folder)
  return (folder / WEIGHTS_FILE).is_file() and (folder / MANIFEST_FILE).is_file()


def read_manifest(folder: pathlib.Path = PACKAGE_DIR) -> dict:
  path = pathlib.Path(folder) / MANIFEST_FILE
  try:
    return json.loads(path.read_text())
  except FileNotFoundError:
    raise PretrainedError(f'{path} not found: {folder} is not a packaged model (model.pretrained)') from None
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise PretrainedError(f'{path}: not the JSON that model.pretrained writes ({e})') from None


def verify(folder: pathlib.Path = PACKAGE_DIR) -> dict:
  """Checks the files of a packaged model against its manifest; returns the manifest.

  Raises:
    PretrainedError: a file is missing, or its sha256 differs from the manifest's.
  """
  folder = pathlib.Path(folder)
  manifest = read_manifest(folder)
  for name, key in ((WEIGHTS_FILE, 'weights_sha256'), (CONFIG_FILE, 'config_sha256')):
    path = folder / name
    if not path.is_file():
      raise PretrainedError(f'{path} is missing from the packaged model {folder}')
    digest = sha256(path)
    if digest != manifest.get(key):
      raise PretrainedError(f'{path}: sha256 {digest[:16]}... differs from the manifest\'s '
                            f'{str(manifest.get(key))[:16]}... (a damaged or replaced file)')
  return manifest


def load(folder: pathlib.Path = PACKAGE_DIR, check: bool = True):
  """The ``model.autoencoder.Autoencoder`` of a packaged model (float32 variables).

  Args:
    folder: the packaged model (default: the shipped one).
    check: verify the files' sha256 against the manifest first.

  Raises:
    PretrainedError: missing or damaged files, or weights that do not fit the configuration.
  """
  from model import autoencoder  # pylint: disable=g-import-not-at-top
  from model import config as config_lib  # pylint: disable=g-import-not-at-top
  from model import encoder as encoder_lib  # pylint: disable=g-import-not-at-top
  folder = pathlib.Path(folder)
  manifest = verify(folder) if check else read_manifest(folder)
  try:
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    ae = autoencoder.Autoencoder(config_lib.ModelConfig.from_dict(cfg['model']),
                                 encoder_lib.EncoderConfig.from_dict(cfg['encoder']))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise PretrainedError(f'{folder / CONFIG_FILE}: not a usable configuration ({e})') from None
  ae.build_all()
  try:
    with np.load(folder / WEIGHTS_FILE) as data:
      arrays = {k: data[k] for k in data.files}
  except (OSError, ValueError) as e:
    raise PretrainedError(f'{folder / WEIGHTS_FILE}: not a readable .npz ({e})') from None
  variables = ae.checkpoint_tree().variables_by_path
  if sorted(arrays) != sorted(variables):
    missing, extra = sorted(set(variables) - set(arrays)), sorted(set(arrays) - set(variables))
    raise PretrainedError(f'{folder / WEIGHTS_FILE} does not fit its configuration: missing {missing[:5]}, '
                          f'unexpected {extra[:5]}')
  for key, var in variables.items():
    if tuple(arrays[key].shape) != tuple(var.shape):
      raise PretrainedError(f'{folder / WEIGHTS_FILE}: {key} has shape {arrays[key].shape}, the '
                            f'configuration needs {tuple(var.shape)}')
    var.assign(arrays[key].astype(np.float32))
  ae.restored_from = f'{folder} (packaged from {manifest.get("source_checkpoint", "?")})'
  return ae


def package(run_dir: pathlib.Path, out_dir: pathlib.Path = PACKAGE_DIR) -> dict:
  """Packages a training run's newest checkpoint as float16 weights + configuration + manifest.

  Returns:
    The manifest (also written to ``out_dir/manifest.json``).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import autoencoder  # pylint: disable=g-import-not-at-top
  run_dir, out_dir = pathlib.Path(run_dir), pathlib.Path(out_dir)
  ae = autoencoder.Autoencoder.from_run_dir(run_dir)
  variables = ae.checkpoint_tree().variables_by_path
  arrays = {}
  for key, var in variables.items():
    value = var.numpy()
    if np.abs(value).max(initial=0) > 65000:
      raise PretrainedError(f'{key}: values up to {np.abs(value).max():.3g} do not fit float16')
    arrays[key] = value.astype(np.float16)
  # The float16 rounding, measured: the mean vertex displacement of the reconstructions of random inputs.
  rng = np.random.default_rng(0)
  s, nf = ae.model_config.image_size, ae.model_config.num_frames
  images = tf.constant(rng.uniform(0, 1, (2, nf, s, s, 3)).astype(np.float32))
  grid = np.stack(np.meshgrid(np.linspace(0.3, 0.7, 17), np.linspace(0.3, 0.7, 4)), -1).reshape(-1, 2)[:68]
  landmarks = tf.constant(np.broadcast_to(grid * s, (2, nf, 68, 2)).astype(np.float32))
  lm_input = landmarks if ae.encoder_config.landmark_input else None
  before = ae(images, lm_input)['vertices'].numpy()
  for key, var in variables.items():
    var.assign(arrays[key].astype(np.float32))
  after = ae(images, lm_input)['vertices'].numpy()
  rounding_mm = float(np.linalg.norm(after - before, axis=-1).mean() * 10.0)  # cm -> mm
  out_dir.mkdir(parents=True, exist_ok=True)
  tmp = out_dir / (WEIGHTS_FILE + '.tmp.npz')
  np.savez_compressed(tmp, **arrays)
  tmp.replace(out_dir / WEIGHTS_FILE)
  shutil.copyfile(run_dir / autoencoder.CONFIG_FILE, out_dir / CONFIG_FILE)
  cfg = json.loads((out_dir / CONFIG_FILE).read_text())
  size = (out_dir / WEIGHTS_FILE).stat().st_size
  if size > MAX_WEIGHTS_BYTES:
    raise PretrainedError(f'{out_dir / WEIGHTS_FILE}: {size / 1e6:.1f} MB, over the '
                          f'{MAX_WEIGHTS_BYTES / 1e6:.0f} MB limit of a shipped model')
  manifest = {'config_name': cfg.get('name'), 'config_hash': cfg.get('hash'),
              'weights_sha256': sha256(out_dir / WEIGHTS_FILE),
              'config_sha256': sha256(out_dir / CONFIG_FILE),
              'weights_bytes': size, 'parameters': int(sum(a.size for a in arrays.values())),
              'dtype': 'float16', 'float16_vertex_rounding_mm': rounding_mm,
              'source_run': str(run_dir), 'source_checkpoint': str(pathlib.Path(ae.restored_from).name)
              if ae.restored_from else None}
  (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True) + '\n')
  return manifest


def main(argv):
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FLAGS
  try:
    if fv.check:
      manifest = verify(pathlib.Path(fv.output))
      load(pathlib.Path(fv.output), check=False)
      print(f'{fv.output}: files match the manifest; config {manifest["config_name"]} '
            f'{manifest["config_hash"]}; {manifest["parameters"]:,} parameters')
      return
    if not fv.run_dir:
      print('error: --run_dir is required (or --check)', file=sys.stderr)
      sys.exit(2)
    manifest = package(pathlib.Path(fv.run_dir), pathlib.Path(fv.output))
  except (PretrainedError, FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(json.dumps(manifest, indent=1, sort_keys=True))


if __name__ == '__main__':
  from absl import flags as _flags  # pylint: disable=g-import-not-at-top
  _flags.DEFINE_string('run_dir', None, 'Training run folder to package (its newest stage checkpoint).')
  _flags.DEFINE_string('output', str(PACKAGE_DIR), 'Packaged model folder (default: the shipped one).')
  _flags.DEFINE_bool('check', False, 'Verify the packaged model at --output instead of packaging.')
  cli.run(main)
