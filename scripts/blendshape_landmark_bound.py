"""How much of each ICT blendshape can a landmark-driven expression model express?

  python scripts/blendshape_landmark_bound.py

For each of the 53 ICT blendshapes b: the smoothest graph deformation D (Eq. 10's energy, weight LAMBDA)
whose 51 inner landmark vertices move as b moves them, upsampled to the template (U D), and its cosine
with b. Two cases: the landmarks' 3D displacements known (the most any landmark-only signal can carry),
and only their x / y (one frontal view; depth from smoothness alone). Prints the count above 0.9 (the
demo's in-span threshold, ``eval.subspace``) and the median.
"""

from common import cli  # noqa: F401  (quiet TensorFlow start-up)

import numpy as np
import scipy.sparse as sp

from eval import subspace
from model import autoencoder
from model import config as model_config
from model import face_model

LAMBDA = 1e-3


def main():
  ae = autoencoder.Autoencoder(model_config.PAPER)
  up = sp.csr_matrix(ae.graph.upsampling)
  n, g = up.shape
  lap = face_model.graph_laplacian(np.asarray(ae.graph.edges), g)
  lm = np.asarray(ae.template.landmarks)[17:]
  _, ict_exp, names = subspace.true_spaces('narrow', 40)
  shapes = ict_exp.reshape(n, 3, -1)
  ul = up[lm].toarray()
  system = ul.T @ ul + LAMBDA * lap + 1e-9 * np.eye(g)
  for label, coords in (('3D landmark displacements', (0, 1, 2)), ('x / y only (frontal)', (0, 1))):
    cos = []
    for k in range(shapes.shape[-1]):
      d = np.zeros((g, 3))
      for c in coords:
        d[:, c] = np.linalg.solve(system, ul.T @ shapes[lm, c, k])
      pred, b = (up @ d).ravel(), shapes[:, :, k].ravel()
      cos.append(pred @ b / (np.linalg.norm(pred) * np.linalg.norm(b) + 1e-12))
    cos = np.asarray(cos)
    best = ', '.join(f'{names[i]} {cos[i]:.2f}' for i in np.argsort(-cos)[:5])
    print(f'{label}: {int(np.sum(cos > 0.9))} / {len(cos)} above 0.9, median {np.median(cos):.3f} ({best})')


if __name__ == '__main__':
  main()
