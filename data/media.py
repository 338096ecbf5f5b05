"""Decoding of images, videos (PyAV) and frame folders, with bad input turned into ``Drop`` exceptions.

Every problem with an input is a ``Drop(reason)``; the preprocessing counts the reasons and goes on.
Conversions that keep an input usable (grayscale, palette, alpha, 16-bit, very large) are returned as notes.
"""

from __future__ import annotations

import os
import pathlib
from typing import Iterable, Sequence

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
# Beyond this many pixels an image is refused (decompression-bomb guard; 100 MP = 300 MB decoded).
DEFAULT_MAX_PIXELS = 100_000_000
# Larger images are downscaled right after decoding (faces are cropped and resized to 240 anyway).
DEFAULT_MAX_SIDE = 4096
# Decoded frames below this fraction of the count in the container header mean a truncated file.
_TRUNCATION_TOLERANCE = 0.95

# Drop reasons (one place, so that reports and tests agree).
UNREADABLE_IMAGE = 'unreadable_image'
IMAGE_TOO_LARGE = 'image_too_large'
CORRUPT_VIDEO = 'corrupt_video'
EMPTY_VIDEO = 'empty_video'
MISSING_FILE = 'missing_file'


class Drop(Exception):
  """An input (file or frame) that is skipped, with the reason that ends up in the report."""

  def __init__(self, reason: str, detail: str = ''):
    super().__init__(f'{reason}: {detail}' if detail else reason)
    self.reason = reason
    self.detail = detail


def is_image(path: str | os.PathLike) -> bool:
  return str(path).lower().endswith(IMAGE_EXTENSIONS)


def is_video(path: str | os.PathLike) -> bool:
  return str(path).lower().endswith(VIDEO_EXTENSIONS)


def to_rgb8(array: np.ndarray, mode: str = '') -> tuple[np.ndarray, list[str]]:
  """Converts gray / gray+alpha / RGB / RGBA arrays of any integer or float depth to uint8 RGB.

  Returns:
    (uint8 [H, W, 3] array, notes such as 'grayscale', 'alpha', 'high_bit_depth').
  """
  notes = []
  a = np.asarray(array)
  if a.dtype == np.uint16 or a.dtype == np.int32 or a.dtype == np.uint32 or mode.startswith('I'):
    notes.append('high_bit_depth')
    hi = 65535.0 if a.max(initial=0) > 255 or a.dtype == np.uint16 or mode.startswith('I;16') else 255.0
    a = np.clip(a.astype(np.float64) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
  elif a.dtype.kind == 'f':
    notes.append('high_bit_depth')
    a = np.clip(a * (255.0 if a.max(initial=0) <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
  elif a.dtype == bool:
    a = a.astype(np.uint8) * 255
  elif a.dtype != np.uint8:
    a = np.clip(a, 0, 255).astype(np.uint8)
  if a.ndim == 2:
    notes.append('grayscale')
    a = np.repeat(a[..., None], 3, -1)
  elif a.ndim == 3 and a.shape[-1] == 2:
    notes += ['grayscale', 'alpha']
    a = np.repeat(a[..., :1], 3, -1)
  elif a.ndim == 3 and a.shape[-1] == 4:
    notes.append('alpha')  # alpha dropped: photos with alpha are opaque in practice
    a = a[..., :3]
  elif a.ndim != 3 or a.shape[-1] != 3:
    raise Drop(UNREADABLE_IMAGE, f'unsupported array shape {a.shape}')
  return np.ascontiguousarray(a), notes


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_side: int = DEFAULT_MAX_SIDE) -> tuple[np.ndarray, list[str], float]:
  """Loads an image as uint8 RGB.

  Args:
    path: the image file.
    max_pixels: images with more pixels are refused (``Drop('image_too_large')``) before decoding.
    max_side: larger images are downscaled so that their longer side is ``max_side``.

  Returns:
    (uint8 [H, W, 3], notes, scale) where ``scale`` maps source pixels to the returned array's pixels.

  Raises:
    Drop: missing, unreadable, truncated or too large image.
  """
  from PIL import Image, ImageOps  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(path)
  if not path.is_file():
    raise Drop(MISSING_FILE, str(path))
  try:
    with Image.open(path) as im:
      w, h = im.size
      if w * h > max_pixels:
        raise Drop(IMAGE_TOO_LARGE, f'{w}x{h} > {max_pixels} pixels')
      im = ImageOps.exif_transpose(im)
      mode = im.mode
      if mode == 'P':
        im = im.convert('RGBA' if 'transparency' in im.info else 'RGB')
      elif mode == 'CMYK' or mode == 'YCbCr' or mode == 'LAB' or mode == 'HSV':
        im = im.convert('RGB')
      elif mode == '1':
        im = im.convert('L')
      arr = np.asarray(im)
  except Drop:
    raise
  except Exception as e:  # pylint: disable=broad-except  # PIL raises many types for bad files
    raise Drop(UNREADABLE_IMAGE, f'{path.name}: {e}') from e
  if arr.size == 0:
    raise Drop(UNREADABLE_IMAGE, f'{path.name}: empty image')
  rgb, notes = to_rgb8(arr, mode)
  if mode == 'P':
    notes.append('palette')
  scale = 1.0
  if max(rgb.shape[:2]) > max_side:
    import cv2  # pylint: disable=g-import-not-at-top
    scale = max_side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    notes.append('large_image_downscaled')
  return rgb, notes, scale


def image_size(path: str | os.PathLike) -> tuple[int, int]:
  """(width, height) of an image as ``load_image`` orients it (EXIF rotation applied), from the header."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as im:
    w, h = im.size
    orientation = im.getexif().get(0x0112, 1)
  return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


class FrameSource:
  """A sequence of frames: a video file (PyAV) or a folder of frame images."""

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)
    self.notes: list[str] = []
    if self.path.is_dir():
      self._files = sorted(p for p in self.path.iterdir() if is_image(p))
      if not self._files:
        raise Drop(EMPTY_VIDEO, f'no frame images in {self.path}')
      self.num_frames = len(self._files)
      first, _, _ = load_image(self._files[0])
      self.size = (first.shape[1], first.shape[0])
    else:
      self._files = None
      self.num_frames, self.size = _probe_video(self.path)

  def read(self, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """Decodes the frames at ``indices`` (uint8 RGB). Unreadable frames of a folder are left out.

    Raises:
      Drop: corrupt or truncated video.
    """
    wanted = sorted(set(int(i) for i in indices if 0 <= int(i) < self.num_frames))
    if self._files is not None:
      out = {}
      for i in wanted:
        try:
          out[i], notes, _ = load_image(self._files[i])
          self.notes += notes
        except Drop:
          pass
      return out
    return _decode_video(self.path, wanted, self.num_frames)


def _open(path):
  import av  # pylint: disable=g-import-not-at-top
  return av.open(str(path), mode='r', metadata_errors='ignore')


def _probe_video(path: pathlib.Path) -> tuple[int, tuple[int, int]]:
  """Frame count and size; checks for empty, corrupt and truncated files by demuxing (no decoding)."""
  if not path.is_file():
    raise Drop(MISSING_FILE, str(path))
  if path.stat().st_size == 0:
    raise Drop(EMPTY_VIDEO, f'{path.name}: zero bytes')
  try:
    with _open(path) as c:
      if not c.streams.video:
        raise Drop(EMPTY_VIDEO, f'{path.name}: no video stream')
      s = c.streams.video[0]
      header_frames = int(s.frames or 0)
      size = (int(s.codec_context.width), int(s.codec_context.height))
      packets = sum(1 for p in c.demux(s) if p.size > 0)
  except Drop:
    raise
  except Exception as e:  # pylint: disable=broad-except  # av raises FFmpegError subclasses and others
    raise Drop(CORRUPT_VIDEO, f'{path.name}: {e}') from e
  if packets == 0 or size[0] <= 0 or size[1] <= 0:
    raise Drop(EMPTY_VIDEO, f'{path.name}: no video frames')
  if header_frames and packets < _TRUNCATION_TOLERANCE * header_frames:
    raise Drop(CORRUPT_VIDEO, f'{path.name}: truncated ({packets} of {header_frames} frames)')
  return (header_frames or packets), size


def _decode_video(path: pathlib.Path, wanted: Sequence[int], num_frames: int) -> dict[int, np.ndarray]:
  """Decodes sequentially up to the last wanted frame (seeking is unreliable across codecs)."""
  out: dict[int, np.ndarray] = {}
  if not wanted:
    return out
  last = wanted[-1]
  wanted_set = set(wanted)
  decoded = 0
  try:
    with _open(path) as c:
      s = c.streams.video[0]
      s.thread_type = 'AUTO'
      for i, frame in enumerate(c.decode(s)):
        decoded = i + 1
        if i in wanted_set:
          out[i] = frame.to_ndarray(format='rgb24')
        if i >= last:
          break
  except Exception as e:  # pylint: disable=broad-except
    raise Drop(CORRUPT_VIDEO, f'{path.name}: decoding failed at frame {decoded}: {e}') from e
  if decoded <= last and decoded < _TRUNCATION_TOLERANCE * num_frames:
    raise Drop(CORRUPT_VIDEO, f'{path.name}: only {decoded} of {num_frames} frames decode')
  return out
