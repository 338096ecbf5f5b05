"""EmotioNet AU lists (``shared/formats/voxceleb/FORMAT.md``, EmotioNet section).

Two layouts: the release's ``dataFile_*.txt`` (tab-separated ``URL AU1 ... AU60`` lines, no header) and
EMOCA-style CSVs with a ``path, AU1, ..., AU60`` header. AU values: 1 present, 0 absent, 999 not coded. An
image is neutral when every coded AU is 0.

Malformed lines are skipped, not fatal (a list has ~25k lines scraped from the web):
``read_emotionet_au_list`` returns the entries and the skipped lines with their reasons,
``read_emotionet_au_file`` the entries only. A line is malformed when its location is empty, it has more
than 60 AU fields, or an AU value is not one of 0, 1, 999 (``inf``, ``nan``, ``0.5`` and text are
malformed). Fewer than 60 AU fields: the rest are not coded.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re

import numpy as np

NUM_AUS = 60
NOT_CODED = 999
_AU_VALUES = (0, 1, NOT_CODED)
_AU_COLUMN = re.compile(r'AU(\d+)')


@dataclasses.dataclass
class EmotioNetEntry:
  """One image of an AU list: its URL or path and AU1..AU60 labels (1 present, 0 absent, 999 not coded)."""
  location: str
  aus: np.ndarray  # int32 [60]

  @property
  def is_neutral(self) -> bool:
    """Every coded AU is 0 (and at least one AU is coded)."""
    coded = self.aus[self.aus != NOT_CODED]
    return coded.size > 0 and bool(np.all(coded == 0))

  def relative_path(self) -> str:
    """Where the image is expected under the local image root: the URL part after ``/Images/`` or the
    path itself for local lists."""
    loc = self.location
    if '://' in loc:
      loc = loc.split('://', 1)[1]
      loc = loc.split('/Images/', 1)[1] if '/Images/' in loc else loc.rsplit('/', 1)[-1]
    return loc.lstrip('/')


@dataclasses.dataclass
class EmotioNetAuList:
  """An AU list file: its entries and the malformed lines that were skipped."""
  entries: list[EmotioNetEntry]
  skipped: list[tuple[int, str]]  # (1-based line, reason)


class _Malformed(Exception):
  pass


def _au_value(text: str) -> int:
  """0, 1 or 999 (``'1.0'`` reads 1); anything else raises ``_Malformed``."""
  try:
    v = float(text)
  except ValueError:
    raise _Malformed(f'AU value {text.strip()!r} is not a number') from None
  if v not in _AU_VALUES:  # also rejects nan and inf
    raise _Malformed(f'AU value {text.strip()!r} is not one of 0, 1, 999')
  return int(v)


def _csv_entry(row: dict, loc_key: str | None) -> EmotioNetEntry:
  if None in row:
    raise _Malformed(f'{len(row[None])} fields more than the header')
  location = (row.get(loc_key) or '').strip() if loc_key else ''
  if not location:
    raise _Malformed('empty image location')
  aus = np.full(NUM_AUS, NOT_CODED, np.int32)
  for k, v in row.items():
    m = _AU_COLUMN.fullmatch((k or '').strip())
    if m and 1 <= int(m.group(1)) <= NUM_AUS and v not in (None, ''):
      aus[int(m.group(1)) - 1] = _au_value(v)
  return EmotioNetEntry(location, aus)


def _tab_entry(line: str) -> EmotioNetEntry | None:
  parts = line.rstrip('\r\n').split('\t')
  if len(parts) < 2:
    parts = line.split()
  if len(parts) < 2:
    if line.strip():
      raise _Malformed('expected a location and AU values')
    return None  # blank line
  if not parts[0].strip():
    raise _Malformed('empty image location')
  values = [_au_value(v) for v in parts[1:] if v.strip()]
  if len(values) > NUM_AUS:
    raise _Malformed(f'{len(values)} AU values; expected at most {NUM_AUS}')
  aus = np.full(NUM_AUS, NOT_CODED, np.int32)
  aus[:len(values)] = values
  return EmotioNetEntry(parts[0].strip(), aus)


def read_emotionet_au_list(path: str | os.PathLike) -> EmotioNetAuList:
  """Reads an EmotioNet AU list (either layout, see the module docstring), skipping malformed lines.

  Args:
    path: a ``dataFile_*.txt`` or an EMOCA-style CSV (recognised by an ``AU1`` column in the first line).

  Returns:
    The entries in file order and the skipped lines as (1-based line, reason).
  """
  with open(path, encoding='utf-8', errors='replace', newline='') as f:
    text = f.read()
  lines = text.split('\n')
  entries, skipped = [], []
  if lines and re.search(r'\bAU1\b', lines[0]):
    delimiter = '\t' if lines[0].count('\t') > lines[0].count(',') else ','
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
      fieldnames = reader.fieldnames or []
    except csv.Error as e:
      return EmotioNetAuList([], [(1, f'header is not CSV: {e}')])
    loc_key = next((k for k in fieldnames if k and not _AU_COLUMN.fullmatch(k.strip())), None)
    while True:
      try:
        row = next(reader)
      except StopIteration:
        break
      except csv.Error as e:
        skipped.append((reader.line_num, f'not CSV: {e}'))
        continue
      try:
        entries.append(_csv_entry(row, loc_key))
      except _Malformed as e:
        skipped.append((reader.line_num, str(e)))
    return EmotioNetAuList(entries, skipped)
  for line_no, line in enumerate(lines, 1):
    try:
      entry = _tab_entry(line)
    except _Malformed as e:
      skipped.append((line_no, str(e)))
      continue
    if entry is not None:
      entries.append(entry)
  return EmotioNetAuList(entries, skipped)


def read_emotionet_au_file(path: str | os.PathLike) -> list[EmotioNetEntry]:
  """The entries of ``read_emotionet_au_list(path)`` (malformed lines skipped; see there for the count)."""
  return read_emotionet_au_list(path).entries
