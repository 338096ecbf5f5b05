"""LFW layout (``shared/formats/lfw/FORMAT.md``): ``pairs.txt`` and the ``<name>/<name>_%04d.jpg`` tree.

Public API (``eval/`` uses it for the LFW identity table):

* ``read_lfw_pairs(path)`` -> ``LfwPair`` list in file order (fold, names, 1-based image numbers, ``same``);
* ``lfw_image_path(root, name, index)``: where an image of a pair lies;
* ``read_pairs_csv(path)``: a same / different pairs table ``file_x,file_y,Decision`` (Yes / No; the
  layout of ``shared/media/pairs/pairs.csv``) -> ``(file_x, file_y, same)`` in file order.

``pairs.txt`` (View 2): a header ``<folds> <n>``, then per fold ``n`` matched lines ``name i j`` followed by
``n`` mismatched lines ``name1 i name2 j``. View 1 files (``pairsDevTrain.txt``) have the header ``<n>`` and
one such fold. Malformed files raise ``FormatError`` (``data.format_io``; a ``ValueError``) naming the file
and line.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from data.format_io import FormatError
from data.format_io import parse_int
from data.format_io import read_text


@dataclasses.dataclass(frozen=True)
class LfwPair:
  """One verification pair; image numbers start at 1 (``<name>_0001.jpg``)."""
  fold: int  # 0-based
  name_a: str
  index_a: int
  name_b: str
  index_b: int

  @property
  def same(self) -> bool:
    """A matched pair (two images of one person)."""
    return self.name_a == self.name_b


def _image_number(token: str, path, line: int) -> int:
  i = parse_int(token, path, line, 'image number')
  if i < 1:
    raise FormatError(path, f'image number {i}: expected >= 1 (LFW numbers images from 0001)', line)
  return i


def read_lfw_pairs(path: str | os.PathLike) -> list[LfwPair]:
  """Reads ``pairs.txt`` (View 2) or a View 1 pairs file.

  Args:
    path: the pairs file (UTF-8 text; blank lines are ignored).

  Returns:
    The pairs in file order: ``folds * 2 * n`` of them.

  Raises:
    FormatError: an empty file; a header that is not one or two positive integers; a different number of
      pair lines than the header promises; a matched line (3 fields) in a fold's mismatched block or the
      other way round, or another field count; an image number below 1 or not an integer; a mismatched
      line naming one person twice.
  """
  lines = [(k, l.split()) for k, l in enumerate(read_text(path).split('\n'), 1) if l.strip()]
  if not lines:
    raise FormatError(path, 'empty file; expected a header "<folds> <pairs per block>" and pair lines')
  head_line, head = lines[0]
  if len(head) not in (1, 2):
    raise FormatError(path, f'header: expected "<folds> <n>" or "<n>", got {" ".join(head)!r}', head_line)
  head_values = [parse_int(v, path, head_line, 'header') for v in head]
  if min(head_values) < 1:
    raise FormatError(path, f'header: expected positive counts, got {head_values}', head_line)
  folds, per = head_values if len(head_values) == 2 else (1, head_values[0])
  body = lines[1:]
  if len(body) != folds * 2 * per:
    raise FormatError(path, f'the header promises {folds} folds x 2 x {per} = {folds * 2 * per} pair lines, '
                      f'found {len(body)}', head_line)
  pairs = []
  for k, (line_no, parts) in enumerate(body):
    fold, matched = k // (2 * per), (k % (2 * per)) < per
    expected = 3 if matched else 4
    if len(parts) != expected:
      kind = 'matched "name i j"' if matched else 'mismatched "name1 i name2 j"'
      raise FormatError(path, f'fold {fold}: expected a {kind} line ({expected} fields), got {len(parts)}: '
                        f'{" ".join(parts)!r}', line_no)
    if matched:
      pairs.append(LfwPair(fold, parts[0], _image_number(parts[1], path, line_no), parts[0],
                           _image_number(parts[2], path, line_no)))
    else:
      if parts[0] == parts[2]:
        raise FormatError(path, f'mismatched pair names {parts[0]!r} twice; expected two people', line_no)
      pairs.append(LfwPair(fold, parts[0], _image_number(parts[1], path, line_no), parts[2],
                           _image_number(parts[3], path, line_no)))
  return pairs


def lfw_image_path(root: str | os.PathLike, name: str, index: int) -> pathlib.Path:
  """``root/<name>/<name>_%04d.jpg`` (also accepts a flat folder holding the jpgs).

  Raises:
    ValueError: ``index`` below 1 or a ``name`` with a path separator.
  """
  if int(index) < 1 or not name or '/' in name or '\\' in name or name in ('.', '..'):
    raise ValueError(f'expected a person name without separators and an image number >= 1, got '
                     f'{name!r}, {index!r}')
  root = pathlib.Path(root)
  nested = root / name / f'{name}_{index:04d}.jpg'
  flat = root / f'{name}_{index:04d}.jpg'
  return nested if nested.exists() or not flat.exists() else flat


def read_pairs_csv(path: str | os.PathLike) -> list[tuple[str, str, bool]]:
  """Reads a pairs table with the header ``file_x,file_y,Decision`` (Decision ``Yes``: same person).

  Raises:
    FormatError: an empty file, another header, a line without three fields, an empty file name, a
      file naming a folder, or a decision other than Yes / No (any case).
  """
  import csv  # pylint: disable=g-import-not-at-top
  rows = list(csv.reader(read_text(path).splitlines()))
  if not rows or [c.strip().lower() for c in rows[0]] != ['file_x', 'file_y', 'decision']:
    raise FormatError(path, 'expected the header "file_x,file_y,Decision"', 1)
  pairs = []
  for line, row in enumerate(rows[1:], 2):
    if not row or not ''.join(row).strip():
      continue
    if len(row) != 3:
      raise FormatError(path, f'expected 3 fields "file_x,file_y,Decision", got {len(row)}', line)
    a, b, decision = (c.strip() for c in row)
    if not a or not b or any(sep in a + b for sep in ('/', '\\')) or {a, b} & {'.', '..'}:
      raise FormatError(path, f'expected two file names without folders, got {a!r}, {b!r}', line)
    if decision.lower() not in ('yes', 'no'):
      raise FormatError(path, f'decision {decision!r}: expected Yes or No', line)
    pairs.append((a, b, decision.lower() == 'yes'))
  return pairs
