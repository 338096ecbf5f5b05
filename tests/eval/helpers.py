"""Test-only stand-ins for a trained model (the encoder is built on the training branch).

``make_export(path, kind)`` writes a real ``model.export`` .npz on the project template and graph:

* ``'ict'``: the bases are the least-squares graph-node fits of the true ICT identity (``num_identity``
  leading modes) and expression (first ``num_expression`` blendshapes) deltas, i.e. a model that *has
  learned* (most of) the synthetic world's spaces; used to exercise the CLIs with meaningful numbers;
* ``'random'``: the untrained model (bases ~ N(0, 1e-3^2)), close to the mean face.
"""

from __future__ import annotations

import pathlib

import numpy as np


def make_export(path: pathlib.Path, kind: str = 'ict', num_identity: int = 20,
                num_expression: int = 53) -> pathlib.Path:
  import scipy.sparse.linalg  # pylint: disable=g-import-not-at-top
  from model import assets  # pylint: disable=g-import-not-at-top
  from model import deformation_graph  # pylint: disable=g-import-not-at-top
  from model import export  # pylint: disable=g-import-not-at-top
  from model import face_model  # pylint: disable=g-import-not-at-top
  from model import template as template_lib  # pylint: disable=g-import-not-at-top
  t = template_lib.load_template('narrow')
  g = deformation_graph.load_deformation_graph(t)
  fm = face_model.build_face_model(t, g, num_identity=num_identity, num_expression=num_expression,
                                   num_albedo=4, orthogonalize=False)
  if kind == 'ict':
    u = g.upsampling.tocsr()

    def node_basis(deltas):  # [k, N, 3] -> [3G, k] least squares U M = deltas
      k = len(deltas)
      out = np.zeros((3 * u.shape[1], k), np.float32)
      ata = (u.T @ u).tocsc() + 1e-6 * scipy.sparse.identity(u.shape[1], format='csc')
      solve = scipy.sparse.linalg.factorized(ata)
      for j in range(k):
        for c in range(3):
          out[c::3, j] = solve(u.T @ deltas[j, :, c])
      return out

    fm.m_gid.assign(node_basis(t.map_ict(assets.load_identity_deltas(num_identity))))
    fm.m_gexp.assign(node_basis(t.map_ict(assets.load_expression_deltas()[0])[:num_expression]))
  elif kind != 'random':
    raise ValueError(kind)
  return export.save_model(path, fm, t, g)


def make_run(path: pathlib.Path) -> pathlib.Path:
  """A tiny, untrained training-run folder (config.json + a 'combined' checkpoint) that
  ``model.autoencoder.Autoencoder.from_run_dir`` loads: random init, i.e. the mean face."""
  import json  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import autoencoder  # pylint: disable=g-import-not-at-top
  from model import config  # pylint: disable=g-import-not-at-top
  from model import encoder  # pylint: disable=g-import-not-at-top
  mc = config.ModelConfig(num_identity=4, num_expression=4, num_albedo=4)
  ec = encoder.EncoderConfig(input_size=32, width=0.25, hidden=8)
  ae = autoencoder.Autoencoder(mc, ec)
  ae.build_all()
  path.mkdir(parents=True, exist_ok=True)
  (path / autoencoder.CONFIG_FILE).write_text(json.dumps({'model': mc.to_dict(), 'encoder': ec.to_dict()}))
  tf.train.Checkpoint(**{autoencoder.CHECKPOINT_KEY: ae.checkpoint_tree()}).save(
      str(path / autoencoder.CHECKPOINT_DIR / 'combined' / 'ckpt'))
  return path
