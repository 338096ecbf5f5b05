"""Landmark accuracy against dlib-XML annotations (``shared/media/landmarks68``): normalized mean error.

Also the reader of 300-W ``.pts`` files (``read_pts``; hand-made truth in ``shared/media/landmarks300w``,
evaluated by ``python -m eval.landmarks``).

NME of a face = mean over the 68 points of the Euclidean error divided by the inter-ocular distance (outer
eye corners 36 and 45 of the annotation), the 300-W convention. Two protocols:

* ``box``: the predictor runs in the annotated box (isolates the landmark predictor);
* ``detect``: the full ``data.face`` path (detection + predictor); faces are matched to annotations by box
  overlap, unmatched annotations count as missed.

Run: ``python -m data.landmarks_eval`` (prints both figures).
"""

from __future__ import annotations

from common import cli  # pylint: disable=g-bad-import-order  (first: quiet TensorFlow start-up)

import dataclasses
import math
import pathlib
import xml.etree.ElementTree as ET
from typing import Sequence

from absl import app
import numpy as np

from common import paths
from common.errors import FormatError
from data import face as face_lib
from data import media


@dataclasses.dataclass
class AnnotatedFace:
  image: pathlib.Path
  box: tuple[float, float, float, float]  # left, top, right, bottom
  landmarks: np.ndarray  # float32 [68, 2]


def _xml_number(element, key: str, path, where: str) -> float:
  value = element.get(key)
  try:
    v = float(value)
  except (TypeError, ValueError):
    raise FormatError(path, f'{where}: attribute {key}={value!r}, expected a number') from None
  if not math.isfinite(v):
    raise FormatError(path, f'{where}: attribute {key}={value!r}, expected a finite number')
  return v


def read_dlib_xml(path: str | pathlib.Path) -> list[AnnotatedFace]:
  """Faces with 68 parts from a dlib imglab XML file (image paths relative to the XML's folder).

  Boxes marked ``ignore='1'`` or without parts are left out.

  Raises:
    FormatError (``common.errors``; a ValueError): XML that does not parse (naming the line), an image
      without ``file``, a box or part whose coordinates are missing or not finite, a box of non-positive
      size, or parts that are not exactly the names 0..67.
  """
  path = pathlib.Path(path)
  try:
    root = ET.parse(path).getroot()
  except ET.ParseError as e:
    raise FormatError(path, f'not XML: {e}', e.position[0]) from None
  out = []
  for i, img in enumerate(root.iter('image')):
    if not img.get('file'):
      raise FormatError(path, f'image {i}: no file attribute')
    for j, box in enumerate(img.iter('box')):
      where = f'image {img.get("file")!r} box {j}'
      parts = {}
      for p in box.iter('part'):
        name = p.get('name', '')
        if not name.isdigit() or int(name) in parts:
          raise FormatError(path, f'{where}: part name {name!r}, expected distinct numbers 0..67')
        parts[int(name)] = (_xml_number(p, 'x', path, where), _xml_number(p, 'y', path, where))
      if not parts or box.get('ignore') == '1':
        continue
      if set(parts) != set(range(68)):
        raise FormatError(path, f'{where}: {len(parts)} parts, expected the 68 names 0..67')
      l, t, w, h = (_xml_number(box, k, path, where) for k in ('left', 'top', 'width', 'height'))
      if w <= 0 or h <= 0:
        raise FormatError(path, f'{where}: box size {w} x {h}, expected positive')
      out.append(AnnotatedFace(path.parent / img.get('file'), (l, t, l + w, t + h),
                               np.array([parts[i] for i in range(68)], np.float32)))
  return out


def read_pts(path: str | pathlib.Path) -> np.ndarray:
  """The points of a 300-W / iBUG ``.pts`` file as 0-based pixel-centre coordinates.

  The format: ``version: 1``, ``n_points: N``, ``{``, N lines ``x y``, ``}``; the coordinates are 1-based
  (the centre of the top-left pixel is (1, 1)), so 1 is subtracted to match dlib's and the crops' pixel
  convention (centre of the top-left pixel at (0, 0)).

  Returns:
    float32 [N, 2] (x right, y down), pixels.

  Raises:
    FormatError (``common.errors``; a ValueError): an unreadable file, a missing header or brace, a point
      line that is not two finite numbers, or a point count that differs from ``n_points``.
  """
  path = pathlib.Path(path)
  try:
    lines = path.read_text(encoding='utf-8').splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise FormatError(path, f'not a readable text file ({e})') from None
  count, start = None, None
  for i, line in enumerate(lines):
    key, _, value = line.partition(':')
    if key.strip() == 'n_points':
      try:
        count = int(value.strip())
      except ValueError:
        raise FormatError(path, f'n_points {value.strip()!r}, expected an integer', i + 1) from None
      if count <= 0:
        raise FormatError(path, f'n_points {count}, expected a positive count', i + 1)
    elif line.strip() == '{':
      start = i + 1
      break
  if count is None or start is None:
    raise FormatError(path, 'expected an "n_points: N" header followed by "{"')
  points = []
  for i in range(start, len(lines)):
    text = lines[i].strip()
    if text == '}':
      break
    fields = text.split()
    try:
      xy = [float(v) for v in fields]
    except ValueError:
      xy = []
    if len(xy) != 2 or not all(math.isfinite(v) for v in xy):
      raise FormatError(path, f'point line {text!r}, expected two finite numbers "x y"', i + 1)
    points.append(xy)
  else:
    raise FormatError(path, 'no closing "}"')
  if len(points) != count:
    raise FormatError(path, f'{len(points)} points, expected n_points = {count}')
  out = np.asarray(points, np.float64) - 1.0
  if np.any(np.abs(out) > np.finfo(np.float32).max):
    raise FormatError(path, 'a coordinate beyond the float32 range')
  return out.astype(np.float32)


def nme(pred: np.ndarray, gt: np.ndarray) -> float:
  """Mean point error / inter-ocular distance (outer eye corners)."""
  return float(np.linalg.norm(pred - gt, axis=1).mean() / np.linalg.norm(gt[36] - gt[45]))


def _iou(a, b) -> float:
  ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = ix * iy
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def evaluate(faces: list[AnnotatedFace], upsample: int = 1) -> dict:
  """NME for both protocols; returns means, medians and the detection rate."""
  analyzer = face_lib.FaceAnalyzer(min_face_size=1, upsample=upsample)
  box_err, det_err, missed = [], [], 0
  by_image: dict[pathlib.Path, list[AnnotatedFace]] = {}
  for f in faces:
    by_image.setdefault(f.image, []).append(f)
  for path, anns in sorted(by_image.items()):
    image, _, _ = media.load_image(path)
    dets = analyzer.detect(image)
    for a in anns:
      box_err.append(nme(analyzer.landmarks_in_box(image, (a.box[0], a.box[1], a.box[2] - 1, a.box[3] - 1)),
                         a.landmarks))
      match = max(dets, key=lambda d: _iou(d.box, a.box), default=None)
      if match is None or _iou(match.box, a.box) < 0.3:
        missed += 1
      else:
        det_err.append(nme(match.landmarks, a.landmarks))
  return {'faces': len(faces), 'nme_box_mean': float(np.mean(box_err)),
          'nme_box_median': float(np.median(box_err)),
          'nme_detect_mean': float(np.mean(det_err)) if det_err else float('nan'),
          'nme_detect_median': float(np.median(det_err)) if det_err else float('nan'),
          'detected': len(det_err), 'missed': missed}


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  root = paths.shared_path('media', 'landmarks68')
  faces = []
  for name in ('training_with_face_landmarks.xml', 'testing_with_face_landmarks.xml'):
    faces += read_dlib_xml(root / name)
  r = evaluate(faces)
  print(f"landmarks68: {r['faces']} faces; NME (inter-ocular) in annotated box: mean {r['nme_box_mean']:.4f} "
        f"median {r['nme_box_median']:.4f}; with detection: mean {r['nme_detect_mean']:.4f} median "
        f"{r['nme_detect_median']:.4f}, detected {r['detected']}/{r['faces']}")


if __name__ == '__main__':
  cli.run(main)
