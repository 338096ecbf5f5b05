"""Landmark accuracy against dlib-XML annotations (``shared/media/landmarks68``): normalized mean error.

NME of a face = mean over the 68 points of the Euclidean error divided by the inter-ocular distance (outer
eye corners 36 and 45 of the annotation), the 300-W convention. Two protocols:

* ``box``: the predictor runs in the annotated box (isolates the landmark predictor);
* ``detect``: the full ``data.face`` path (detection + predictor); faces are matched to annotations by box
  overlap, unmatched annotations count as missed.

Run: ``python -m data.landmarks_eval`` (prints both figures).
"""

from __future__ import annotations

import dataclasses
import pathlib
import xml.etree.ElementTree as ET

import numpy as np

from data import face as face_lib
from data import media


@dataclasses.dataclass
class AnnotatedFace:
  image: pathlib.Path
  box: tuple[float, float, float, float]  # left, top, right, bottom
  landmarks: np.ndarray  # float32 [68, 2]


def read_dlib_xml(path: str | pathlib.Path) -> list[AnnotatedFace]:
  """Faces with 68 parts from a dlib imglab XML file (image paths relative to the XML's folder)."""
  path = pathlib.Path(path)
  out = []
  for img in ET.parse(path).getroot().iter('image'):
    for box in img.iter('box'):
      parts = {int(p.get('name')): (float(p.get('x')), float(p.get('y'))) for p in box.iter('part')}
      if len(parts) != 68 or box.get('ignore') == '1':
        continue
      l, t = float(box.get('left')), float(box.get('top'))
      out.append(AnnotatedFace(path.parent / img.get('file'),
                               (l, t, l + float(box.get('width')), t + float(box.get('height'))),
                               np.array([parts[i] for i in range(68)], np.float32)))
  return out


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


def main() -> None:
  from common import paths  # pylint: disable=g-import-not-at-top
  root = paths.shared_path('media', 'landmarks68')
  faces = []
  for name in ('training_with_face_landmarks.xml', 'testing_with_face_landmarks.xml'):
    faces += read_dlib_xml(root / name)
  r = evaluate(faces)
  print(f"landmarks68: {r['faces']} faces; NME (inter-ocular) in annotated box: mean {r['nme_box_mean']:.4f} "
        f"median {r['nme_box_median']:.4f}; with detection: mean {r['nme_detect_mean']:.4f} median "
        f"{r['nme_detect_median']:.4f}, detected {r['detected']}/{r['faces']}")


if __name__ == '__main__':
  main()
