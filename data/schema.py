"""The TFRecord schema shared by every dataset of the project (real and synthetic).

One record (a serialized ``tf.train.Example``) is one *sample*: ``F >= 1`` frames of one clip of one person
(``F = N_f = 4`` for VoxCeleb clips, ``F = 1`` for single images; the tf.data pipeline repeats an image
``N_f`` times, as the paper does for EmotioNet). Keeping a clip's frames in one record makes multi-frame
samples a plain ``map`` in tf.data (no grouping, shuffling keeps clips intact).

Features (``F`` frames, ``S = model.config.IMAGE_SIZE = 240``; "crop pixels": x right, y down, row 0 the
top row, (i, j) the centre of pixel column i / row j, as dlib reports landmarks):

==============================  =======  =========  ===================================================
key                             type     length     meaning
==============================  =======  =========  ===================================================
``frames/count``                int64    1          F
``frames/image``                bytes    F          JPEG (quality 95), S x S RGB crop
``frames/landmarks``            float    F*68*2     68 iBUG landmarks (x, y) in crop pixels
``frames/lip_mask``             bytes    F          PNG, S x S uint8 label map: 0 other, 1 upper lip,
                                                    2 lower lip (filled landmark lip polygons)
``frames/lip_contour_points``   float    sum 2*P    the four lip contours of every frame as polylines,
                                                    (x, y) crop pixels, concatenated frame-major in
                                                    ``LIP_CONTOURS`` order
``frames/lip_contour_lengths``  int64    F*4        number of points P of each polyline (<= 32;
                                                    longer ones are resampled when written)
``frames/index``                int64    F          frame index in the source video (0 for images)
``frames/crop_box``             float    F*3        crop square in source pixels: x0, y0 (left/top
                                                    edge), side. side is the "face size" that must be
                                                    >= ``min_face_size`` (200 by default)
``meta/dataset``                bytes    1          'voxceleb' | 'emotionet' | 'folder' | 'synthetic'
``meta/source``                 bytes    1          source file (or frame folder), relative to input
``meta/clip_id``                bytes    1          unique id of the clip / image
``meta/identity_id``            bytes    1          person id ('' when unknown)
``meta/is_neutral``             int64    1          1 neutral expression, 0 not neutral, -1 unknown
``meta/is_video``               int64    1          1 when the frames come from a video / frame folder
``meta/source_size``            int64    2          source width, height in pixels
``meta/schema_version``         int64    1          ``SCHEMA_VERSION``
==============================  =======  =========  ===================================================

``frames/lip_source`` was added without a version bump: readers that do not know it ignore it, and
``parse_sample`` reads records without it (lip source ''). Records are serialized deterministically
(sorted feature keys): the same sample gives the same bytes in every process.

Why lip contours are stored as polylines and not as distance transforms: four float32 240x240 distance
transforms per frame are 900 KB (still ~60 KB as uint8 PNGs, and quantized to whole pixels), the polylines
are ~200 bytes and exact (sub-pixel). The distance transforms are a cheap, exact computation in the tf.data
pipeline (``data.lips.distance_transforms_cv2``), and a loss can also use the polylines directly (exact
point-to-polyline distances; the pipeline exposes them padded).
The lip masks are stored (one small PNG) because they are what the segmentation loss and the lips-IoU
metric compare against, and rasterizing polygons in TF is awkward.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Sequence

import numpy as np

from model import config as model_config
from model import semantics

SCHEMA_VERSION = 1
LIP_CONTOURS = ('upper_outer', 'upper_inner', 'lower_outer', 'lower_inner')
NUM_LIP_CONTOURS = len(LIP_CONTOURS)
MAX_CONTOUR_POINTS = 32
DATASETS = ('voxceleb', 'emotionet', 'folder', 'synthetic')
LIP_SOURCES = ('mediapipe', 'dlib', 'render')
JPEG_QUALITY = 95
SHARD_SUFFIX = '.tfrecord'


@dataclasses.dataclass
class Frame:
  """One preprocessed frame (numpy).

  Attributes:
    image: uint8 [S, S, 3] RGB crop.
    landmarks: float32 [68, 2] (x, y) crop pixels.
    lip_mask: uint8 [S, S] label map (0 other, 1 upper lip, 2 lower lip).
    lip_contours: four float32 [P_k, 2] polylines in ``LIP_CONTOURS`` order.
    frame_index: index of the frame in its source video (0 for images).
    crop_box: (x0, y0, side) of the crop square in source pixels.
    lip_source: what drew the lips, one of ``LIP_SOURCES`` ('' = not stated: written as 'render' for the
      synthetic dataset, whose lips are rendered, as '' otherwise).
  """
  image: np.ndarray
  landmarks: np.ndarray
  lip_mask: np.ndarray
  lip_contours: Sequence[np.ndarray]
  frame_index: int = 0
  crop_box: tuple[float, float, float] = (0.0, 0.0, float(model_config.IMAGE_SIZE))
  lip_source: str = ''


@dataclasses.dataclass
class Sample:
  """One record: frames of one clip plus metadata (see the module docstring for the fields)."""
  frames: list[Frame]
  dataset: str
  source: str
  clip_id: str
  identity_id: str = ''
  is_neutral: int = -1
  is_video: bool = False
  source_size: tuple[int, int] = (0, 0)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
  """Encodes a uint8 RGB image as JPEG."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(image, np.uint8), 'RGB').save(buf, 'JPEG', quality=quality)
  return buf.getvalue()


def encode_png(image: np.ndarray) -> bytes:
  """Encodes a uint8 gray (H, W) image as PNG."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(image, np.uint8), 'L').save(buf, 'PNG', optimize=False)
  return buf.getvalue()


def _decode_image(data: bytes) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  return np.asarray(Image.open(io.BytesIO(data)))


def serialize_sample(sample: Sample) -> bytes:
  """Serializes a ``Sample`` to a ``tf.train.Example`` string."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  # keeps `import data.schema` light

  if sample.dataset not in DATASETS:
    raise ValueError(f'Unknown dataset {sample.dataset!r}; expected one of {DATASETS}.')
  if not sample.frames:
    raise ValueError('A sample needs at least one frame.')
  images, lms, masks, points, lengths, indices, boxes, lip_sources = [], [], [], [], [], [], [], []
  for f in sample.frames:
    lip_source = f.lip_source or ('render' if sample.dataset == 'synthetic' else '')
    if lip_source and lip_source not in LIP_SOURCES:
      raise ValueError(f'Unknown lip source {f.lip_source!r}; expected one of {LIP_SOURCES}.')
    lip_sources.append(lip_source.encode())
    size = model_config.IMAGE_SIZE
    if f.image.shape != (size, size, 3) or f.lip_mask.shape != (size, size):
      raise ValueError(f'Frame image/mask must be {size}x{size}: {f.image.shape}, {f.lip_mask.shape}.')
    if len(f.lip_contours) != NUM_LIP_CONTOURS:
      raise ValueError(f'Expected {NUM_LIP_CONTOURS} lip contours, got {len(f.lip_contours)}.')
    images.append(encode_jpeg(f.image))
    lms.extend(np.asarray(f.landmarks, np.float32).reshape(semantics.NUM_LANDMARKS * 2).tolist())
    masks.append(encode_png(f.lip_mask))
    for c in f.lip_contours:
      c = np.asarray(c, np.float32).reshape(-1, 2)
      if len(c) > MAX_CONTOUR_POINTS:
        from data import lips  # pylint: disable=g-import-not-at-top  # (lips imports schema)
        c = lips.resample_polyline(c, MAX_CONTOUR_POINTS)
      points.extend(c.reshape(-1).tolist())
      lengths.append(len(c))
    indices.append(int(f.frame_index))
    boxes.extend(float(v) for v in f.crop_box)

  def b(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

  def fl(v):
    return tf.train.Feature(float_list=tf.train.FloatList(value=v))

  def i64(v):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=v))

  feats = {
      'frames/count': i64([len(sample.frames)]),
      'frames/image': b(images),
      'frames/landmarks': fl(lms),
      'frames/lip_mask': b(masks),
      'frames/lip_contour_points': fl(points),
      'frames/lip_contour_lengths': i64(lengths),
      'frames/index': i64(indices),
      'frames/crop_box': fl(boxes),
      'frames/lip_source': b(lip_sources),
      'meta/dataset': b([sample.dataset.encode()]),
      'meta/source': b([sample.source.encode()]),
      'meta/clip_id': b([sample.clip_id.encode()]),
      'meta/identity_id': b([sample.identity_id.encode()]),
      'meta/is_neutral': i64([int(sample.is_neutral)]),
      'meta/is_video': i64([int(bool(sample.is_video))]),
      'meta/source_size': i64([int(v) for v in sample.source_size]),
      'meta/schema_version': i64([SCHEMA_VERSION]),
  }
  # deterministic: map entries sorted by key (otherwise their order may differ between processes).
  return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString(deterministic=True)


def parse_sample(serialized: bytes) -> Sample:
  """Parses a serialized record back into a numpy ``Sample`` (for tests and tools; not for tf.data)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  ex = tf.train.Example.FromString(serialized)
  f = ex.features.feature

  def bl(k):
    return list(f[k].bytes_list.value)

  def fl(k):
    return np.asarray(f[k].float_list.value, np.float32)

  def il(k):
    return np.asarray(f[k].int64_list.value, np.int64)

  n = int(il('frames/count')[0])
  lms = fl('frames/landmarks').reshape(n, semantics.NUM_LANDMARKS, 2)
  pts = fl('frames/lip_contour_points').reshape(-1, 2)
  lengths = il('frames/lip_contour_lengths').reshape(n, NUM_LIP_CONTOURS)
  boxes = fl('frames/crop_box').reshape(n, 3)
  idx = il('frames/index')
  sources = [v.decode() for v in bl('frames/lip_source')] if 'frames/lip_source' in f else []
  sources = sources if len(sources) == n else [''] * n  # records written before the field existed
  frames, offset = [], 0
  for i in range(n):
    contours = []
    for length in lengths[i]:
      contours.append(pts[offset:offset + length])
      offset += length
    frames.append(Frame(image=_decode_image(bl('frames/image')[i]), landmarks=lms[i],
                        lip_mask=_decode_image(bl('frames/lip_mask')[i]), lip_contours=contours,
                        frame_index=int(idx[i]), crop_box=tuple(float(v) for v in boxes[i]),
                        lip_source=sources[i]))
  return Sample(frames=frames, dataset=bl('meta/dataset')[0].decode(),
                source=bl('meta/source')[0].decode(), clip_id=bl('meta/clip_id')[0].decode(),
                identity_id=bl('meta/identity_id')[0].decode(), is_neutral=int(il('meta/is_neutral')[0]),
                is_video=bool(il('meta/is_video')[0]),
                source_size=tuple(int(v) for v in il('meta/source_size')))


def feature_spec():
  """The ``tf.io.parse_single_example`` spec of the schema (used by ``data.pipeline``)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return {
      'frames/count': tf.io.FixedLenFeature([1], tf.int64),
      'frames/image': tf.io.VarLenFeature(tf.string),
      'frames/landmarks': tf.io.VarLenFeature(tf.float32),
      'frames/lip_mask': tf.io.VarLenFeature(tf.string),
      'frames/lip_contour_points': tf.io.VarLenFeature(tf.float32),
      'frames/lip_contour_lengths': tf.io.VarLenFeature(tf.int64),
      'frames/index': tf.io.VarLenFeature(tf.int64),
      'meta/dataset': tf.io.FixedLenFeature([], tf.string),
      'meta/clip_id': tf.io.FixedLenFeature([], tf.string),
      'meta/identity_id': tf.io.FixedLenFeature([], tf.string, default_value=''),
      'meta/is_neutral': tf.io.FixedLenFeature([], tf.int64, default_value=-1),
      'meta/is_video': tf.io.FixedLenFeature([], tf.int64, default_value=0),
  }
