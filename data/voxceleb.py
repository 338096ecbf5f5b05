"""VoxCeleb1/2 layouts (``shared/formats/voxceleb/FORMAT.md``): txt annotations, metadata CSVs, speaker ids.

* ``read_voxceleb_txt``: one ``txt/<id>/<ytid>/<utt>.txt`` file (header fields, then a ``FRAME X Y W H``
  table); ``iter_voxceleb_txt_tree`` walks a tree of them.
* ``read_csv_rows``: ``vox1_meta.csv``, ``vox-metadata_fomm.csv`` and other CSVs with a header line.
* ``voxceleb_identity``: the speaker id of a media path.

Malformed files raise ``FormatError`` naming the file and line (see ``data.format_io``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import pathlib
import re
from typing import Iterator

import numpy as np

from data.format_io import FormatError
from data.format_io import parse_float
from data.format_io import parse_int

# Header fields parsed as numbers: key -> (attribute, type).
_NUMERIC_HEADER = {'offset': ('offset', int), 'fv conf': ('fv_conf', float), 'asd conf': ('asd_conf', float)}


@dataclasses.dataclass
class VoxCelebTrack:
  """One ``txt/<id>/<ytid>/<utt>.txt`` annotation: header fields and per-frame boxes."""
  identity: str
  reference: str
  offset: int | None
  fv_conf: float | None
  asd_conf: float | None
  frames: np.ndarray  # int64 [N] frame indices (25 fps source video), strictly increasing, >= 0
  boxes: np.ndarray  # float32 [N, 4] x, y, w, h (normalized for VoxCeleb2, pixels for VoxCeleb1); w, h > 0
  path: str = ''

  @property
  def normalized(self) -> bool:
    """Boxes are fractions of the frame size (VoxCeleb2) rather than pixels (VoxCeleb1)."""
    return bool(len(self.boxes)) and float(np.max(self.boxes)) <= 1.5


def read_voxceleb_txt(path: str | os.PathLike) -> VoxCelebTrack:
  """Parses a VoxCeleb1/2 txt annotation file.

  Args:
    path: the ``.txt`` file.

  Returns:
    The track. Header numbers that are absent are None (``FV Conf : 20.230 (1)`` reads 20.23).

  Raises:
    FormatError: no ``FRAME`` table or an empty one, a table row without 5 fields, a frame index that is not
      a non-negative integer larger than the previous one, a box value that is not finite, a box with
      non-positive width or height, a header number that does not parse or is not finite.
  """
  header: dict[str, tuple[str, int]] = {}
  frames, boxes = [], []
  in_table = False
  with open(path, encoding='utf-8', errors='replace') as f:
    for line_no, line in enumerate(f, 1):
      line = line.strip()
      if not line:
        continue
      if not in_table and line.upper().startswith('FRAME'):
        in_table = True
        continue
      if in_table:
        parts = line.split()
        if len(parts) != 5:
          raise FormatError(path, f'expected 5 fields "FRAME X Y W H", got {len(parts)}: {line!r}', line_no)
        frame = parse_int(parts[0], path, line_no, 'frame index')
        if frame < 0 or (frames and frame <= frames[-1]):
          raise FormatError(path, f'frame index {frame}: expected >= 0 and larger than the previous '
                            f'({frames[-1] if frames else "none"})', line_no)
        box = [parse_float(v, path, line_no, 'box') for v in parts[1:]]
        if box[2] <= 0 or box[3] <= 0:
          raise FormatError(path, f'box width and height must be > 0, got {box[2]} x {box[3]}', line_no)
        frames.append(frame)
        boxes.append(box)
      elif ':' in line:
        key, value = line.split(':', 1)
        header[key.strip().lower()] = (value.strip(), line_no)
  if not in_table:
    raise FormatError(path, 'no "FRAME X Y W H" table')
  if not frames:
    raise FormatError(path, 'the FRAME table has no rows')
  numbers = {}
  for key, (attr, cast) in _NUMERIC_HEADER.items():
    value, line_no = header.get(key, ('', 0))
    token = value.split()[0] if value.split() else None
    numbers[attr] = None if token is None else (parse_int(token, path, line_no, key) if cast is int else
                                               parse_float(token, path, line_no, key))
  identity = header.get('identity', ('', 0))[0].split()
  reference = header.get('reference', ('', 0))[0]
  return VoxCelebTrack(identity=identity[0] if identity else '', reference=reference,
                       frames=np.asarray(frames, np.int64).reshape(-1),
                       boxes=np.asarray(boxes, np.float32).reshape(-1, 4), path=str(path), **numbers)


def iter_voxceleb_txt_tree(root: str | os.PathLike) -> Iterator[tuple[str, VoxCelebTrack]]:
  """Yields (``<id>/<ytid>/<utt>`` key, track) for every txt file under ``root``, sorted.

  Raises:
    FormatError: from ``read_voxceleb_txt`` for the first malformed file.
  """
  root = pathlib.Path(root)
  for p in sorted(root.rglob('*.txt')):
    yield p.relative_to(root).with_suffix('').as_posix(), read_voxceleb_txt(p)


def voxceleb_identity(relative_path: str) -> str:
  """The speaker id of a VoxCeleb path (first component like ``id10001``; else the first component)."""
  parts = pathlib.PurePosixPath(relative_path).parts
  for p in parts:
    if re.fullmatch(r'id\d+', p):
      return p
  m = re.search(r'id\d{5}', relative_path)
  return m.group(0) if m else (parts[0] if len(parts) > 1 else '')


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
  """Rows of a CSV with a header line (``vox1_meta.csv``, ``vox-metadata_fomm.csv``, ...).

  The delimiter is a tab when the first 4 kB hold more tabs than commas, else a comma. Values are stripped.

  Raises:
    FormatError: an empty file, a header with an empty or repeated column name, a row with a different
      number of fields than the header (blank lines are skipped).
  """
  with open(path, newline='', encoding='utf-8', errors='replace') as f:
    text = f.read()
  sample = text[:4096]
  delimiter = '\t' if sample.count('\t') > sample.count(',') else ','
  reader = csv.reader(io.StringIO(text), delimiter=delimiter)
  header = None
  rows = []
  try:
    all_fields = [(reader.line_num, fields) for fields in reader]
  except csv.Error as e:
    raise FormatError(path, f'not CSV: {e}', reader.line_num) from None
  for line_no, fields in all_fields:
    if not any(v.strip() for v in fields):
      continue
    if header is None:
      header = [k.strip() for k in fields]
      if '' in header or len(set(header)) != len(header):
        raise FormatError(path, f'header needs distinct, non-empty column names, got {header}', line_no)
      continue
    if len(fields) != len(header):
      raise FormatError(path, f'expected {len(header)} fields (the header\'s), got {len(fields)}',
                        line_no)
    rows.append({k: v.strip() for k, v in zip(header, fields)})
  if header is None:
    raise FormatError(path, 'empty file; expected a header line')
  return rows
