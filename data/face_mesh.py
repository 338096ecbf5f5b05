"""MediaPipe face mesh (468 points) on a face found by dlib: the dense lip source of ``data.prepare``.

Model: ``data/mediapipe/face_landmark.tflite`` (Apache-2.0, MediaPipe commit 33d683c, its ``LICENSE``
beside it), run with the LiteRT interpreter (``ai-edge-litert``; ``tf.lite.Interpreter`` only when LiteRT is
not installed). Its input is MediaPipe's ``FaceLandmarkCpu`` graph of that commit: a 192x192 RGB crop of a
rotated square region of interest, float32 in [0, 1]; its outputs are 468 x (x, y, z) in crop pixels and a
face-presence logit (sigmoid -> score; MediaPipe drops faces under 0.5).

Region of interest (MediaPipe's ``FaceLandmarkLandmarksToRoi``): the axis-aligned box of the landmarks,
square on its long side, scaled 1.5x, rotated so that the line between the outer eye corners is
horizontal. ``fit`` runs the network twice: first on a region guessed from dlib's 68 points (they stop at
the brows, so the box is moved up and enlarged to the mesh's extent), then on the region of the first
mesh, which is the region the network was trained on (MediaPipe's tracking step).

Coordinates: (x, y) source pixels, pixel centres at integers (as dlib). The network's outputs are treated
as continuous crop coordinates (MediaPipe divides them by 192 and maps the unit square onto the region).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading

import numpy as np

from common import paths

INPUT_SIZE = 192
NUM_POINTS = 468
# MediaPipe's face-presence threshold.
DEFAULT_MIN_SCORE = 0.5
ROI_SCALE = 1.5
# Outer eye corners: mesh (33 image-left, 263 image-right) and iBUG-68 (36, 45).
MESH_EYE_CORNERS = (33, 263)
DLIB_EYE_CORNERS = (36, 45)
# The mesh box vs the 68-point box (measured on six shared photos): 1.2x larger (1.17-1.23), centre higher
# by 0.11 of the 68-point box (0.09-0.13).
_DLIB_TO_MESH_SCALE = 1.2
_DLIB_TO_MESH_SHIFT = 0.11
_MIN_ROI_SIDE = 8.0

_local = threading.local()
INTERPRETER = ''  # 'ai_edge_litert' or 'tf.lite' once loaded


def model_path():
  return paths.package_data('data', 'mediapipe', 'face_landmark.tflite')


@contextlib.contextmanager
def _quiet_stderr():
  """Hides what native code writes to stderr (LiteRT's "Created TensorFlow Lite XNNPACK delegate" INFO
  line) unless verbose logs are asked for (``common.cli``)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  if cli.VERBOSE:
    yield
    return
  saved = os.dup(2)
  try:
    with open(os.devnull, 'w') as null:
      os.dup2(null.fileno(), 2)
      yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def _load_interpreter():
  """The TFLite interpreter of this thread (LiteRT; tf.lite only when LiteRT is not installed)."""
  global INTERPRETER
  it = getattr(_local, 'interpreter', None)
  if it is None:
    try:
      from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
      INTERPRETER = 'ai_edge_litert'
    except ImportError:  # pragma: no cover  (requirements.txt pins ai-edge-litert)
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      Interpreter = tf.lite.Interpreter  # pylint: disable=invalid-name
      INTERPRETER = 'tf.lite'
    with _quiet_stderr():
      it = Interpreter(model_path=str(model_path()), num_threads=1)
      it.allocate_tensors()
    _local.interpreter = it
  return it


@dataclasses.dataclass(frozen=True)
class Roi:
  """A rotated square: centre (x, y) in continuous source coordinates, side (pixels), angle (radians, the
  rotation from the image's x axis to the region's x axis)."""
  centre: tuple[float, float]
  side: float
  angle: float

  def matrix(self) -> np.ndarray:
    """float64 [2, 3]: source pixel-centre coordinates -> crop pixel-centre coordinates (for warpAffine)."""
    k = INPUT_SIZE / self.side
    c, s = np.cos(self.angle), np.sin(self.angle)
    rot = np.array([[c, s], [-s, c]]) * k
    centre = np.asarray(self.centre, np.float64)
    return np.concatenate([rot, (rot @ (0.5 - centre) + INPUT_SIZE / 2.0 - 0.5)[:, None]], 1)

  def to_source(self, crop_points: np.ndarray) -> np.ndarray:
    """Continuous crop coordinates [N, 2] -> source pixel-centre coordinates [N, 2]."""
    k = INPUT_SIZE / self.side
    c, s = np.cos(self.angle), np.sin(self.angle)
    rot = np.array([[c, s], [-s, c]])
    u = (np.asarray(crop_points, np.float64) - INPUT_SIZE / 2.0) / k
    return u @ rot + np.asarray(self.centre) - 0.5


def roi_from_points(points: np.ndarray, eye_corners: tuple[int, int], scale: float = ROI_SCALE,
                    shift: float = 0.0) -> Roi:
  """MediaPipe's region of interest of a point set (pixel-centre coordinates); ``shift`` moves the centre
  up by that fraction of the side before scaling (for dlib's 68 points, which stop at the brows)."""
  pts = np.asarray(points, np.float64)
  lo, hi = pts.min(0), pts.max(0)
  left, right = pts[eye_corners[0]], pts[eye_corners[1]]
  angle = float(np.arctan2(right[1] - left[1], right[0] - left[0]))
  side = float(max(hi - lo)) + 1.0
  centre = (lo + hi) / 2.0 + 0.5
  centre[1] -= shift * side
  return Roi((float(centre[0]), float(centre[1])), max(side * scale, _MIN_ROI_SIDE), angle)


@dataclasses.dataclass
class MeshResult:
  """468 mesh points (float32 [468, 2], source pixels) and the face-presence score in [0, 1]."""
  points: np.ndarray
  score: float


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] from a gray [H, W] / [H, W, 1], RGB or RGBA uint8 image; clear error otherwise."""
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise ValueError(f'face mesh: expected a uint8 image, got {image.dtype}.')
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[..., 0]
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, 2)
  if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
    raise ValueError(f'face mesh: expected an [H, W], [H, W, 3] or [H, W, 4] image, got {image.shape}.')
  return image[..., :3]


def run_roi(image: np.ndarray, roi: Roi) -> MeshResult:
  """Runs the network once on ``roi`` of ``image`` (uint8 RGB; outside the image the border is repeated,
  as MediaPipe does)."""
  import cv2  # pylint: disable=g-import-not-at-top
  crop = cv2.warpAffine(as_rgb_uint8(image), roi.matrix(), (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
  it = _load_interpreter()
  it.set_tensor(it.get_input_details()[0]['index'], (crop.astype(np.float32) / 255.0)[None])
  it.invoke()
  outs = {d['name']: it.get_tensor(d['index']) for d in it.get_output_details()}
  mesh = np.asarray(outs['conv2d_21'], np.float64).reshape(NUM_POINTS, 3)
  logit = float(np.asarray(outs['conv2d_31']).ravel()[0])
  score = float(1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0))))
  return MeshResult(roi.to_source(mesh[:, :2]).astype(np.float32), score)


def fit(image: np.ndarray, landmarks68: np.ndarray) -> MeshResult:
  """The face mesh of the face whose 68 dlib landmarks (float [68, 2], source pixels) are given.

  Raises:
    ValueError: for images that are not uint8 gray/RGB/RGBA or landmarks that are not 68 finite points.
  """
  lm = np.asarray(landmarks68, np.float64)
  if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
    raise ValueError(f'face mesh: expected 68 finite (x, y) landmarks, got shape {lm.shape}.')
  image = as_rgb_uint8(image)
  first = run_roi(image, roi_from_points(lm, DLIB_EYE_CORNERS, ROI_SCALE * _DLIB_TO_MESH_SCALE,
                                         _DLIB_TO_MESH_SHIFT))
  if not np.all(np.isfinite(first.points)):
    return MeshResult(first.points, 0.0)
  return run_roi(image, roi_from_points(first.points, MESH_EYE_CORNERS))
