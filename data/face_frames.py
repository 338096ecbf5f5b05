"""Faces of user media for a learned model: list inputs, decode frames, detect, crop, build loss batches.

Used by reconstruction, expression transfer and personalisation. Cropping is the project's preprocessing
(``data.preprocess.make_frame``: dlib detection, 68 landmarks, the margin crop resized to 240 px, lip
masks and contours); a frame without a usable face becomes a ``media.Drop`` with the preprocessing's reason
(``no_face``, ``face_too_small``), so callers count it and go on.

Video frames are decoded sequentially with PyAV, one at a time (a long clip never sits in memory).
"""

from __future__ import annotations

import dataclasses
import errno
import fractions
import os
import pathlib
from typing import Iterator, Optional

import numpy as np

from data import face as face_lib
from data import lips
from data import media
from data import preprocess
from data import schema


@dataclasses.dataclass
class FaceCrop:
  """One face of one frame: ``frame`` (``schema.Frame``: 240 px crop, landmarks, lip mask / contours, crop
  box in source pixels), the source file and frame index, and the face index in that frame."""
  source: str
  frame_index: int
  face_index: int
  frame: schema.Frame
  # The detection in source pixels: dlib's box (left, top, right, bottom) and its 68 landmarks [68, 2].
  face_box: Optional[tuple[float, float, float, float]] = None
  detected_landmarks: Optional[np.ndarray] = None


def _missing_reason(path: pathlib.Path) -> str:
  """Why ``path`` cannot be opened, in words ('does not exist', 'is a symbolic link loop', ...)."""
  try:
    os.stat(path)
  except OSError as e:
    if e.errno == errno.ELOOP:
      return 'is a symbolic link loop'
    if e.errno == errno.ENOTDIR:
      return 'cannot exist: a part of its path is a file, not a folder'
    if e.errno == errno.EACCES:
      return 'cannot be read (permission denied)'
    if os.path.islink(path):
      return f'is a broken symbolic link (to {os.readlink(path)})'
  return 'does not exist'


def list_inputs(path: str | pathlib.Path) -> list[tuple[pathlib.Path, str]]:
  """(file, 'image' | 'video') for an image, a video or a folder of either (sorted, not recursive).

  Raises:
    FileNotFoundError: the path does not exist.
    ValueError: a file that is neither an image nor a video (by extension), or a folder with neither.
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f'input {path} {_missing_reason(path)} (expected an image, a video or a folder)')
  if path.is_dir():
    files = [(p, 'image' if media.is_image(p) else 'video') for p in sorted(path.iterdir())
             if p.is_file() and (media.is_image(p) or media.is_video(p))]
    if not files:
      raise ValueError(f'folder {path} has no image ({", ".join(media.IMAGE_EXTENSIONS)}) or video '
                       f'({", ".join(media.VIDEO_EXTENSIONS)}) files')
    return files
  if media.is_image(path):
    return [(path, 'image')]
  if media.is_video(path):
    return [(path, 'video')]
  raise ValueError(f'{path}: unsupported file type; expected an image ({", ".join(media.IMAGE_EXTENSIONS)}) '
                   f'or a video ({", ".join(media.VIDEO_EXTENSIONS)})')


def usable_faces(image: np.ndarray, analyzer: face_lib.FaceAnalyzer, min_face_size: int,
                 largest_only: bool = False) -> list[face_lib.Face]:
  """Faces of at least ``min_face_size`` crop pixels, largest first.

  Raises:
    media.Drop: 'no_face' or 'face_too_small'.
  """
  faces = analyzer.detect(image)
  if not faces:
    raise media.Drop(preprocess.NO_FACE)
  big = [f for f in faces if f.size >= min_face_size]
  if not big:
    raise media.Drop(preprocess.FACE_TOO_SMALL, f'largest {faces[0].size} px < {min_face_size} px')
  return big[:1] if largest_only else big


def image_faces(path: pathlib.Path, analyzer: face_lib.FaceAnalyzer, min_face_size: int) -> list[FaceCrop]:
  """Every usable face of an image file. Raises ``media.Drop`` (unreadable file, no usable face)."""
  image, _, scale = media.load_image(path)
  faces = usable_faces(image, analyzer, int(min_face_size * scale))
  out = []
  for k, f in enumerate(faces):
    frame = preprocess.make_frame(image, f)
    if scale != 1.0:
      frame.crop_box = tuple(v / scale for v in frame.crop_box)
    # Continuous edges scale by 1 / scale; pixel-centre coordinates by the same map on (x + 0.5).
    out.append(FaceCrop(str(path), 0, k, frame, face_box=tuple(float(v) / scale for v in f.box),
                        detected_landmarks=((f.landmarks.astype(np.float64) + 0.5) / scale - 0.5)
                        .astype(np.float32)))
  return out


def video_info(path: pathlib.Path) -> tuple[int, float]:
  """(frame count, frames per second). Raises ``media.Drop`` for missing, empty or corrupt videos."""
  src = media.FrameSource(path)
  import av  # pylint: disable=g-import-not-at-top
  try:
    with av.open(str(path)) as c:
      rate = c.streams.video[0].average_rate
      fps = float(rate) if rate else 25.0
  except Exception as e:  # pylint: disable=broad-except  # av raises many error types
    raise media.Drop(media.CORRUPT_VIDEO, f'{path.name}: {e}') from e
  return src.num_frames, fps


def video_frames(path: pathlib.Path, max_frames: Optional[int] = None, stride: int = 1
                 ) -> Iterator[tuple[int, np.ndarray]]:
  """(index, uint8 RGB [H, W, 3]) of every ``stride``-th frame, up to ``max_frames`` of them.

  Raises:
    media.Drop: the video cannot be decoded.
  """
  import av  # pylint: disable=g-import-not-at-top
  count = 0
  try:
    with av.open(str(path)) as c:
      s = c.streams.video[0]
      s.thread_type = 'AUTO'
      for i, frame in enumerate(c.decode(s)):
        if i % stride:
          continue
        yield i, frame.to_ndarray(format='rgb24')
        count += 1
        if max_frames and count >= max_frames:
          return
  except media.Drop:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise media.Drop(media.CORRUPT_VIDEO, f'{path.name}: decoding failed after {count} frames: {e}') from e


def write_video(path, frames: list[np.ndarray], fps: float) -> pathlib.Path:
  """H.264 (yuv420p) MP4 from uint8 RGB frames of one even size."""
  import av  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  h, w = frames[0].shape[:2]
  with av.open(str(path), mode='w') as c:
    s = c.add_stream('libx264', rate=fractions.Fraction(fps).limit_denominator(1000))
    s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, 'yuv420p'
    for f in frames:
      for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:s.height, :s.width]),
                                                   format='rgb24')):
        c.mux(p)
    for p in s.encode():
      c.mux(p)
  return path


def spread_indices(count: int, num: int) -> np.ndarray:
  """``num`` indices spread evenly over ``range(count)`` (segment centres; repeats when count < num)."""
  if count <= 0:
    raise ValueError('spread_indices: no frames')
  return np.minimum(((np.arange(num) + 0.5) * count / num).astype(np.int64), count - 1)


def frames_to_batch(frames: list[schema.Frame], is_neutral: bool = False) -> dict[str, np.ndarray]:
  """One sample of F frames in ``data.pipeline``'s element layout (batch dimension 1), for the losses.

  Returns:
    image [1, F, S, S, 3] in [0, 1], landmarks [1, F, 68, 2], lip_masks [1, F, S, S, 2], lip_distance
    [1, F, S, S, 4] (pixels), lip_contours [1, F, 4, P, 2], lip_contour_lengths int32 [1, F, 4],
    is_neutral bool [1].
  """
  size = frames[0].image.shape[0]
  p = schema.MAX_CONTOUR_POINTS
  contours = np.zeros([len(frames), schema.NUM_LIP_CONTOURS, p, 2], np.float32)
  lengths = np.zeros([len(frames), schema.NUM_LIP_CONTOURS], np.int32)
  for i, fr in enumerate(frames):
    for c, poly in enumerate(fr.lip_contours):
      poly = np.asarray(poly, np.float32)
      if len(poly) > p:
        poly = lips.resample_polyline(poly, p)
      if len(poly):
        contours[i, c, :len(poly)] = poly
        contours[i, c, len(poly):] = poly[-1]
      lengths[i, c] = len(poly)
  dts = np.stack([lips.distance_transforms_cv2(list(fr.lip_contours), size) for fr in frames])
  label = np.stack([fr.lip_mask for fr in frames])
  from model import semantics  # pylint: disable=g-import-not-at-top
  masks = np.stack([label == semantics.REGION_UPPER_LIP, label == semantics.REGION_LOWER_LIP], -1)
  return {
      'image': np.stack([fr.image for fr in frames])[None].astype(np.float32) / 255.0,
      'landmarks': np.stack([fr.landmarks for fr in frames])[None].astype(np.float32),
      'lip_masks': masks[None].astype(np.float32),
      'lip_distance': dts[None].astype(np.float32),
      'lip_contours': contours[None], 'lip_contour_lengths': lengths[None],
      'is_neutral': np.array([is_neutral]),
  }
