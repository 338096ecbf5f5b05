"""Helpers shared by the dataset format modules: text reading and number parsing failing with FormatError.

Every reader of ``data.voxceleb``, ``data.emotionet``, ``data.bu3dfe`` and ``data.lfw`` raises
``FormatError`` (re-exported here from ``common.errors``; a ``ValueError``) for malformed contents, naming the
file and the 1-based line.
"""

from __future__ import annotations

import math
import os
import pathlib
import re

import numpy as np

from common.errors import FormatError

__all__ = ['FormatError', 'read_text', 'line_of', 'parse_int', 'parse_float', 'parse_token_block']

_TOKEN = re.compile(r'[^\s,]+')


def read_text(path: str | os.PathLike, encoding: str = 'utf-8') -> str:
  """The whole file as text; undecodable bytes raise ``FormatError`` naming the line."""
  data = pathlib.Path(path).read_bytes()
  try:
    return data.decode(encoding)
  except UnicodeDecodeError as e:
    raise FormatError(path, f'not {encoding} text (byte {e.start}: {data[e.start:e.start + 1]!r})',
                      data.count(b'\n', 0, e.start) + 1) from None


def line_of(text: str, pos: int) -> int:
  """1-based line number of character ``pos`` of ``text``."""
  return text.count('\n', 0, pos) + 1


def parse_int(token: str, path, line: int | None, what: str) -> int:
  """An integer token (``'12'``, ``'-1'``); anything else (``'1.5'``, ``'nan'``, ``''``) raises."""
  try:
    return int(token)
  except ValueError:
    raise FormatError(path, f'{what}: expected an integer, got {token!r}', line) from None


def parse_float(token: str, path, line: int | None, what: str) -> float:
  """A finite float token; ``'nan'``, ``'inf'`` or text raise FormatError."""
  try:
    v = float(token)
  except ValueError:
    raise FormatError(path, f'{what}: expected a number, got {token!r}', line) from None
  if not math.isfinite(v):
    raise FormatError(path, f'{what}: expected a finite number, got {token!r}', line)
  return v


def parse_token_block(text: str, start: int, end: int, dtype, path, what: str) -> np.ndarray:
  """Numbers of ``text[start:end]`` separated by white space and/or commas (VRML ``[ ... ]`` blocks).

  Args:
    text: the whole file (for line numbers in errors).
    start, end: the block's character range.
    dtype: ``np.float64`` (values must be finite) or ``np.int64`` (values must be integers).
    path: the file, for errors.
    what: the block's name, for errors (``'Coordinate point'``).

  Returns:
    A 1-D array of the numbers, in order.

  Raises:
    FormatError: a token that is not a number of that kind (or is not finite), naming its line.
  """
  block = text[start:end]
  tokens = block.replace(',', ' ').split()
  is_int = np.issubdtype(dtype, np.integer)
  try:
    values = np.array(tokens, dtype=dtype)
    bad = None if is_int else np.flatnonzero(~np.isfinite(values))
  except (ValueError, OverflowError):
    values, bad = None, None
  if values is not None and (bad is None or not bad.size):
    return values
  for k, m in enumerate(_TOKEN.finditer(block)):  # the error path: find the first bad token and its line
    line = line_of(text, start + m.start())
    if is_int:
      try:
        int(m.group())
        np.int64(m.group())
      except (ValueError, OverflowError):
        raise FormatError(path, f'{what}: expected an integer, got {m.group()!r}', line) from None
    elif values is None or k == bad[0]:
      parse_float(m.group(), path, line, what)
  raise FormatError(path, f'{what}: unreadable numbers', line_of(text, start))
