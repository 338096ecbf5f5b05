"""Pictures: image grids, views of a face, and Figure-1-style basis-mode grids (rendered with the op)."""

from __future__ import annotations

import pathlib
import typing

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from model import camera as camera_lib
from model import face_model as face_model_lib
from model import image_formation
from model import lighting

BASES = ('identity', 'expression', 'albedo')
# Geometry is shown under a neutral grey albedo so that shape differences are visible.
GREY = (0.7, 0.7, 0.7)


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round(np.clip(np.asarray(images, np.float64), 0.0, 1.0) * 255).astype(np.uint8)


def image_grid(images: np.ndarray, rows: int, cols: int, pad: int = 2,
               pad_value: float = 1.0) -> np.ndarray:
  """Tiles float images [rows * cols, H, W, C] into one [rows (H + pad) - pad, ...] image."""
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  if n != rows * cols:
    raise ValueError(f'{n} images for a {rows} x {cols} grid')
  grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), pad_value, np.float32)
  for i in range(n):
    r, k = divmod(i, cols)
    grid[r * (h + pad):r * (h + pad) + h, k * (w + pad):k * (w + pad) + w] = images[i]
  return grid


def save_png(path, image: np.ndarray) -> pathlib.Path:
  """Saves a float [H, W, 3] image in [0, 1] (or uint8) as PNG."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  img = image if image.dtype == np.uint8 else to_uint8(image)
  Image.fromarray(img).save(path)
  return path


def draw_landmarks(image: np.ndarray, landmarks2d: np.ndarray, color=(0, 255, 0)) -> np.ndarray:
  """Draws [68, 2] pixel landmarks (x right, y down) as small dots on a float or uint8 image."""
  pil = Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image))
  draw = ImageDraw.Draw(pil)
  for x, y in np.asarray(landmarks2d):
    draw.ellipse([x - 1, y - 1, x + 1, y + 1], fill=color)
  return np.asarray(pil)


def leading_components(model: face_model_lib.FaceModel, basis: str, count: int) -> np.ndarray:
  """Indices of the ``count`` basis vectors with the largest vertex-space norm (the leading modes)."""
  if basis == 'albedo':
    norms = np.linalg.norm(model.m_r.numpy(), axis=0)
  else:
    m = model.identity_basis() if basis == 'identity' else tf.convert_to_tensor(model.m_gexp)
    g = model.num_nodes
    cols = tf.reshape(tf.transpose(m), [-1, g, 3])
    vertex_cols = face_model_lib.upsample(model.upsampling, cols).numpy()  # [m, N, 3]
    norms = np.linalg.norm(vertex_cols.reshape(len(vertex_cols), -1), axis=1)
  return np.argsort(-norms, kind='stable')[:count]


def basis_grid(model: face_model_lib.FaceModel, mesh: image_formation.RenderMesh, basis: str,
               num_components: int = 5, sigmas: typing.Sequence[float] = (-3, -1.5, 0, 1.5, 3),
               camera: typing.Optional[camera_lib.Camera] = None, batch_size: int = 8) -> np.ndarray:
  """Figure-1-style grid: one row per leading component, mean + k sigma along it per column.

  Coefficients are ~ N(0, 1) by convention, so sigma = 1 coefficient unit. Geometry bases are shown
  with a grey albedo under a frontal-left light; the albedo basis on the mean shape under flat light.

  Args:
    model: the ``FaceModel``.
    mesh: its ``RenderMesh``.
    basis: 'identity', 'expression' or 'albedo'.
    num_components: rows (the leading components by vertex-space norm).
    sigmas: column offsets in standard deviations.
    camera: intrinsics (default 240 x 240).
    batch_size: renders per op call.

  Returns:
    float32 [rows * (H + 2) - 2, cols * (W + 2) - 2, 3] image in [0, 1].
  """
  if basis not in BASES:
    raise ValueError(f'basis must be one of {BASES}, got {basis!r}')
  sizes = {'identity': model.num_identity, 'expression': model.num_expression,
           'albedo': model.num_albedo}
  comps = leading_components(model, basis, min(num_components, sizes[basis]))
  coeffs = np.zeros((len(comps) * len(sigmas), sizes[basis]), np.float32)
  for r, c in enumerate(comps):
    coeffs[r * len(sigmas):(r + 1) * len(sigmas), c] = sigmas
  images = []
  for start in range(0, len(coeffs), batch_size):
    chunk = tf.constant(coeffs[start:start + batch_size])
    b = int(chunk.shape[0])
    out = model(**{{'identity': 'alpha', 'expression': 'delta', 'albedo': 'beta'}[basis]: chunk})
    if basis == 'albedo':
      albedo, sh = out['albedo'], lighting.ambient_sh(1.0, b)
    else:
      albedo = tf.broadcast_to(tf.constant(GREY, tf.float32), out['vertices'].shape)
      sh = lighting.directional_sh([-0.4, 0.4, 1.0], 0.6, 0.45, b)
    pose = camera_lib.default_pose(b)
    images.append(image_formation.render(out['vertices'], albedo, pose, sh, camera, mesh)['image'])
  images = np.concatenate([i.numpy() for i in images])
  return image_grid(images, len(comps), len(sigmas))
