"""Using a learned autoencoder on face crops: loading, multi-frame grouping, decoding, pictures.

Frame grouping for a clip (the encoder takes N_f frames of one person, paper Sec. 3.3): the tower runs on
every frame independently and the per-frame heads (expression, lighting, pose) see only their own frame's
features, so per-frame parameters come from one encoder pass over every frame. Identity and albedo come
from one pass over ``N_f`` frames spread evenly over the clip (segment centres), whose tower features are
average-pooled as in training; that one alpha / beta is used for every frame. A single image is repeated
N_f times (as in training on images), which gives the same alpha / beta as one frame (mean pooling).
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf

from model import autoencoder as autoencoder_lib
from model import image_formation
from model import lighting
from model import pretrained

PER_FRAME_KEYS = ('delta', 'sh', 'angles', 'translation')
GEOMETRY_ALBEDO = 0.7


class NotAModelError(ValueError):
  """A path that is not a learned model (run folder with config.json and checkpoints)."""


def load_autoencoder(path: str | pathlib.Path | None = None) -> autoencoder_lib.Autoencoder:
  """An autoencoder from a run folder (``training.main``), a personalised model folder or a packaged model
  (``model.pretrained``); ``None``: the pretrained model shipped with the package.

  Raises:
    NotAModelError: the path is missing, is a file (e.g. a face-model export ``.npz``, which lacks the
      encoder), a folder without ``config.json`` / checkpoints, or a damaged packaged model.
  """
  path = pathlib.Path(path) if path else pretrained.PACKAGE_DIR
  if not path.exists():
    raise NotAModelError(f'model {path} does not exist (expected a run folder written by training.main)')
  if path.is_file():
    raise NotAModelError(f'model {path} is a file; expected a run folder (config.json + checkpoints/): a '
                         'face-model export (.npz) has no encoder and cannot reconstruct images')
  if pretrained.is_packaged(path):
    try:
      return pretrained.load(path)
    except pretrained.PretrainedError as e:
      raise NotAModelError(f'model {path}: {e}') from e
  try:
    return autoencoder_lib.Autoencoder.from_run_dir(path)
  except (FileNotFoundError, ValueError, KeyError, TypeError) as e:
    raise NotAModelError(f'model {path} is not a usable run folder: {e}') from e


def encode_frames(ae: autoencoder_lib.Autoencoder, images: np.ndarray, landmarks: np.ndarray | None = None,
                  chunk: int = 32) -> dict[str, np.ndarray]:
  """Parameters of T crops of one person (see the module docstring for the grouping).

  Args:
    ae: the autoencoder.
    images: float32 [T, S, S, 3] crops in [0, 1].
    landmarks: float32 [T, 68, 2] the crops' detected landmarks, (x, y) crop pixels (needed when the
      encoder takes landmarks, ``EncoderConfig.landmark_input``).
    chunk: frames per encoder call.

  Returns:
    alpha [m_i], beta [m_r] (identity / albedo from N_f frames spread over the T), and per frame
    delta [T, m_e], sh [T, 9, 3], angles [T, 3], translation [T, 3].
  """
  images = np.asarray(images, np.float32)
  if landmarks is not None:
    landmarks = np.asarray(landmarks, np.float32).reshape(len(images), 68, 2)
  part = lambda idx: None if landmarks is None else tf.constant(landmarks[idx][None])
  per = {k: [] for k in PER_FRAME_KEYS}
  for s in range(0, len(images), chunk):
    p = ae.encoder(tf.constant(images[s:s + chunk][None]), part(slice(s, s + chunk)))
    for k in PER_FRAME_KEYS:
      per[k].append(p[k][0].numpy())
  spread = np.minimum(((np.arange(ae.model_config.num_frames) + 0.5) * len(images)
                       / ae.model_config.num_frames).astype(np.int64), len(images) - 1)
  ident = ae.encoder(tf.constant(images[spread][None]), part(spread))
  out = {k: np.concatenate(v) for k, v in per.items()}
  out['alpha'], out['beta'] = ident['alpha'][0].numpy(), ident['beta'][0].numpy()
  return out


def decode_frames(ae: autoencoder_lib.Autoencoder, params: dict[str, np.ndarray], chunk: int = 16,
                  keys=('vertices', 'image', 'mask', 'landmarks2d', 'lip_masks', 'identity_vertices',
                        'albedo')) -> dict[str, np.ndarray]:
  """Decodes ``encode_frames``-style parameters (one alpha / beta, T frames) in chunks.

  Returns:
    {key: [T, ...]} for the per-frame outputs of ``Autoencoder.decode``; ``identity_vertices`` [N, 3] and
    ``albedo`` [N, 3] once.
  """
  t = len(params['delta'])
  out: dict[str, list] = {k: [] for k in keys}
  for s in range(0, t, chunk):
    p = {k: tf.constant(np.asarray(params[k][s:s + chunk], np.float32)[None]) for k in PER_FRAME_KEYS}
    p['alpha'] = tf.constant(np.asarray(params['alpha'], np.float32)[None])
    p['beta'] = tf.constant(np.asarray(params['beta'], np.float32)[None])
    d = ae.decode(p)
    for k in keys:
      out[k].append(d[k][0].numpy())
  res = {k: np.concatenate(v) for k, v in out.items() if k not in ('identity_vertices', 'albedo')}
  for k in ('identity_vertices', 'albedo'):
    if k in keys:
      res[k] = out[k][0]
  return res


def geometry_images(ae: autoencoder_lib.Autoencoder, vertices: np.ndarray, angles: np.ndarray,
                    translation: np.ndarray) -> np.ndarray:
  """Shaded grey geometry (albedo 0.7, one directional light) in the given poses: float32 [T, S, S, 3]."""
  v = tf.constant(np.asarray(vertices, np.float32))
  b = v.shape[0]
  sh = tf.tile(tf.constant(lighting.directional_sh([-0.4, 0.4, 1.0], 0.6, 0.45, 1), tf.float32), [b, 1, 1])
  r = image_formation.render(v, tf.fill(tf.shape(v), GEOMETRY_ALBEDO),
                             (tf.constant(np.asarray(angles, np.float32)),
                              tf.constant(np.asarray(translation, np.float32))), sh, ae.camera, ae.mesh)
  return r['image'].numpy()


def overlay(inputs: np.ndarray, renders: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """The render composited over the input where the face mask is 1: float32 [..., S, S, 3]."""
  return renders * masks + inputs * (1.0 - masks)
