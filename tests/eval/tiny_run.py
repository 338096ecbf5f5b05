"""An untrained tiny autoencoder saved as a run folder (for plumbing tests of the applications).

The encoder's output kernels start at zero (every input gives the mean face); they get small random values
here so that different frames give different parameters (jitter, transfer and smoothing need that).
"""

import pathlib

import numpy as np
import tensorflow as tf

from model import autoencoder as autoencoder_lib
from tests.training import tiny


def make_run(run_dir, seed: int = 0, scale: float = 0.02, expression_scale: float = 2.0) -> pathlib.Path:
  """Writes ``config.json`` and ``checkpoints/combined/`` of a randomly perturbed tiny autoencoder
  (output kernels ~ N(0, scale^2), the expression and identity ones ~ N(0, expression_scale^2), the
  geometry bases 100 times their initial size)."""
  run_dir = pathlib.Path(run_dir)
  ae = autoencoder_lib.Autoencoder(tiny.TINY.model, tiny.TINY.encoder, seed=seed)
  ae.build_all()
  rng = np.random.default_rng(seed)
  enc = ae.encoder
  for layer in (enc.per_frame_head, enc.identity_head, enc.albedo_head):
    k = layer.kernel
    k.assign(rng.normal(0.0, scale, k.shape).astype(np.float32))
  m_e = tiny.TINY.model.num_expression
  k = enc.per_frame_head.kernel
  k.assign(np.concatenate([rng.normal(0.0, expression_scale, (k.shape[0], m_e)), k.numpy()[:, m_e:]], 1)
           .astype(np.float32))
  k = enc.identity_head.kernel
  k.assign(rng.normal(0.0, expression_scale, k.shape).astype(np.float32))
  ae.face_model.m_gexp.assign(ae.face_model.m_gexp * 100.0)  # visible expressions and identities (~0.1 cm)
  ae.face_model.m_gid.assign(ae.face_model.m_gid * 100.0)
  run_dir.mkdir(parents=True, exist_ok=True)
  (run_dir / autoencoder_lib.CONFIG_FILE).write_text(tiny.TINY.to_json())
  ckpt = tf.train.Checkpoint(**{autoencoder_lib.CHECKPOINT_KEY: ae.checkpoint_tree()})
  ckpt.save(str(run_dir / autoencoder_lib.CHECKPOINT_DIR / 'combined' / 'ckpt'))
  return run_dir
