"""Held-out evaluation of a model on the synthetic world (``training.demo``'s learning checks).

Landmark error: mean Euclidean distance (pixels at 240 px) of the 66 landmarks to the ground truth. Geometry
error: per-vertex RMSE (mm) between the reconstructed and the ground-truth mesh of every frame after a
similarity alignment (scale, rotation, translation; as the paper's Table 1), next to the same error of the
mean template (the model with all coefficients zero), and their paired difference per sample.
"""

from __future__ import annotations

import numpy as np

HELDOUT_SEED_OFFSET = 1000


def similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Umeyama similarity alignment of ``source`` [N, 3] onto ``target`` [N, 3]; returns aligned source."""
  mu_s, mu_t = source.mean(0), target.mean(0)
  s, t = source - mu_s, target - mu_t
  cov = t.T @ s / len(s)
  u, d, vt = np.linalg.svd(cov)
  sign = np.eye(3)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:
    sign[2, 2] = -1
  rot = u @ sign @ vt
  scale = np.trace(np.diag(d) @ sign) / s.var(0).sum()
  return scale * s @ rot.T + mu_t


def rmse_mm(pred: np.ndarray, gt: np.ndarray) -> float:
  """Per-vertex RMSE in mm after similarity alignment (inputs in cm)."""
  aligned = similarity_align(pred.astype(np.float64), gt.astype(np.float64))
  return float(np.sqrt(np.mean(np.sum((aligned - gt) ** 2, -1))) * 10.0)


def evaluate(ae, batches) -> dict:
  """Landmark error (px) and geometry error (mm) of ``ae`` on held-out batches with ground truth."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import semantics  # pylint: disable=g-import-not-at-top
  idx = np.asarray(semantics.LANDMARKS66)
  lm_err, geo, mean_geo, paired = [], [], [], []
  mean = ae.face_model.mean_vertices.numpy()
  for batch in batches:
    out = ae(tf.constant(batch['image']), tf.constant(batch['landmarks']))
    d = np.linalg.norm(out['landmarks2d'].numpy()[:, :, idx] - batch['landmarks'][:, :, idx], axis=-1)
    lm_err.append(d.mean())
    verts = out['vertices'].numpy()
    for b in range(verts.shape[0]):
      for f in range(verts.shape[1]):
        geo.append(rmse_mm(verts[b, f], batch['gt_vertices'][b, f]))
        mean_geo.append(rmse_mm(mean, batch['gt_vertices'][b, f]))
      n = verts.shape[1]
      paired.append(np.mean(geo[-n:]) - np.mean(mean_geo[-n:]))  # per sample (its frames share a face)
  diff = np.asarray(paired)
  half_width = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float('nan')
  return {'landmark_px': float(np.mean(lm_err)), 'geometry_mm': float(np.mean(geo)),
          'mean_template_geometry_mm': float(np.mean(mean_geo)),
          'geometry_minus_mean_template_mm': float(diff.mean()),
          'geometry_minus_mean_template_ci95_mm': float(half_width),
          'samples_better_than_mean_template': float(np.mean(diff < 0))}


def heldout_batches(cfg, count: int) -> list[dict]:
  from data import synthetic_stream  # pylint: disable=g-import-not-at-top
  ds = synthetic_stream.make_stream('video', batch_size=4, seed=cfg.seed + HELDOUT_SEED_OFFSET,
                                    num_frames=cfg.model.num_frames, groundtruth=True, count=count,
                                    parallel=2)
  keys = ('image', 'landmarks', 'gt_vertices', 'lip_distance', 'lip_contours', 'lip_contour_lengths',
          'is_neutral')
  return [{k: b[k].numpy() for k in keys} for b in ds]
