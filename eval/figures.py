"""Figures of the evaluation reports, drawn with OpenCV (no plotting library, no rasterizer op needed).

* ``error_heatmap``: a mesh seen from the front (orthographic along -z, painter's algorithm), each triangle
  coloured by the mean of its vertices' errors on a fixed scale, with a colour bar in mm.
* ``histogram_plot``: overlaid normalized histograms (LFW same / different cosine similarities).
"""

from __future__ import annotations

import pathlib

import numpy as np


def _colormap(values01: np.ndarray) -> np.ndarray:
  """[M] in [0, 1] -> [M, 3] uint8 BGR (OpenCV's JET)."""
  import cv2  # pylint: disable=g-import-not-at-top
  v = np.clip(np.round(np.asarray(values01) * 255), 0, 255).astype(np.uint8)
  return cv2.applyColorMap(v[:, None], cv2.COLORMAP_JET)[:, 0, :]


def error_heatmap(vertices: np.ndarray, triangles: np.ndarray, errors: np.ndarray, vmax: float,
                  title: str = '', size: int = 400) -> np.ndarray:
  """Frontal render of per-vertex ``errors`` (0 blue .. ``vmax`` red) on a mesh.

  Args:
    vertices: [N, 3] (any unit; +y up, the face looks along +z).
    triangles: [T, 3].
    errors: [N] per-vertex errors (mm).
    vmax: the error mapped to red.
    title: a caption line.
    size: image height and width of the mesh panel.

  Returns:
    uint8 [size + 40, size + 70, 3] RGB image.
  """
  import cv2  # pylint: disable=g-import-not-at-top
  v = np.asarray(vertices, np.float64)
  tris = np.asarray(triangles, np.int64)
  lo, hi = v[:, :2].min(0), v[:, :2].max(0)
  scale = 0.9 * size / max(float((hi - lo).max()), 1e-9)
  centre = (lo + hi) / 2
  px = np.stack([(v[:, 0] - centre[0]) * scale + size / 2, size / 2 - (v[:, 1] - centre[1]) * scale], 1)
  canvas = np.full((size + 40, size + 70, 3), 255, np.uint8)
  panel = canvas[40:, :size]
  depth = v[tris, 2].mean(1)
  colours = _colormap(np.asarray(errors, np.float64)[tris].mean(1) / max(vmax, 1e-12))
  # Back-facing triangles (normal z < 0 seen from +z) are skipped; the rest painted back to front.
  e1, e2 = px[tris[:, 1]] - px[tris[:, 0]], px[tris[:, 2]] - px[tris[:, 0]]
  facing = (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) < 0  # counter-clockwise in y-up = clockwise in y-down
  if facing.sum() < 0.5 * len(tris):
    facing = ~facing  # the mesh winds the other way
  pts = np.round(px * 16).astype(np.int32)  # 4 fractional bits
  for t in np.argsort(depth):
    if facing[t]:
      cv2.fillConvexPoly(panel, pts[tris[t]], tuple(int(c) for c in colours[t][::-1]), cv2.LINE_AA, 4)
  # Colour bar.
  bar = _colormap(np.linspace(1, 0, size - 20))[:, ::-1]
  canvas[50:50 + len(bar), size + 10:size + 25] = bar[:, None, :]
  cv2.putText(canvas, f'{vmax:.1f} mm', (size + 5, 45), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
  cv2.putText(canvas, '0', (size + 28, size + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
  cv2.putText(canvas, title[:70], (5, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
  return canvas


def histogram_plot(series: dict[str, np.ndarray], edges: np.ndarray, title: str = '',
                   size: tuple[int, int] = (320, 480)) -> np.ndarray:
  """Overlaid step histograms of normalized ``series`` (name -> values) on ``edges``; uint8 RGB."""
  import cv2  # pylint: disable=g-import-not-at-top
  h, w = size
  img = np.full((h, w, 3), 255, np.uint8)
  left, right, top, bottom = 40, w - 10, 40, h - 30
  hists = {k: np.histogram(np.clip(v, edges[0], edges[-1]), edges)[0] / max(len(v), 1)
           for k, v in series.items()}
  ymax = max([float(x.max()) for x in hists.values()] + [1e-9])
  colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
  cv2.rectangle(img, (left, top), (right, bottom), (0, 0, 0), 1)
  xs = np.linspace(left, right, len(edges)).round().astype(int)
  for n, (name, hist) in enumerate(hists.items()):
    ys = (bottom - hist / ymax * (bottom - top)).round().astype(int)
    pts = []
    for i, y in enumerate(ys):
      pts += [(xs[i], y), (xs[i + 1], y)]
    cv2.polylines(img, [np.array(pts, np.int32)], False, colours[n % len(colours)], 2)
    cv2.putText(img, name, (left + 5, top + 15 + 15 * n), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                colours[n % len(colours)], 1)
  for val in (edges[0], (edges[0] + edges[-1]) / 2, edges[-1]):
    x = int(round(left + (val - edges[0]) / (edges[-1] - edges[0]) * (right - left)))
    cv2.putText(img, f'{val:g}', (x - 8, bottom + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
  cv2.putText(img, title[:60], (left, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
  return img


def save_png(path: str | pathlib.Path, rgb: np.ndarray) -> pathlib.Path:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(rgb).save(path)
  return path
