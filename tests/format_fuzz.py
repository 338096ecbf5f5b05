"""A seeded mutator for the readers' fuzz tests: small random edits of a valid file (text or bytes).

``fuzz(reader, valid, check, tmp_path)`` writes ``count`` mutants of ``valid``, reads each and demands that
the reader either returns a result that passes ``check`` or raises ``FormatError`` naming the file; any
other exception (TypeError, IndexError, OverflowError, ...) fails the test with the mutant's text.
"""

from __future__ import annotations

import re

import numpy as np

from common.errors import FormatError

SPECIAL_TOKENS = ('nan', 'inf', '-inf', '-2', '-1', '0', '1.5', '1e309', '', 'x', '99999999999999999999',
                  '2147483648', '-2147483649', '[', ']', '{', '}', ',', '999', '\t', 'point [')
_TOKEN = re.compile(r'[^\s,]+')


def mutate_text(text: str, rng: np.random.Generator) -> str:
  """1-3 random edits: drop / duplicate / swap / insert lines, truncate, replace a token, drop a character."""
  for _ in range(rng.integers(1, 4)):
    lines = text.split('\n')
    op = rng.integers(7)
    k, j = rng.integers(len(lines)), rng.integers(len(lines))
    if op == 0:
      del lines[k]
    elif op == 1:
      lines.insert(k, lines[k])
    elif op == 2:
      lines[k], lines[j] = lines[j], lines[k]
    elif op == 3:
      lines.insert(k, ' '.join(rng.choice(SPECIAL_TOKENS, rng.integers(1, 6))))
    elif op == 4 and text:
      text = text[:rng.integers(len(text))]
      continue
    elif op == 5:
      tokens = list(_TOKEN.finditer(text))
      if tokens:
        m = tokens[rng.integers(len(tokens))]
        text = text[:m.start()] + str(rng.choice(SPECIAL_TOKENS)) + text[m.end():]
      continue
    elif text:
      p = rng.integers(len(text))
      text = text[:p] + text[p + 1:]
      continue
    text = '\n'.join(lines)
  return text


def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
  """1-3 random edits of binary data: flip, drop or insert bytes, truncate, overwrite 4 bytes (an int32)."""
  b = bytearray(data)
  for _ in range(rng.integers(1, 4)):
    op, p = rng.integers(5), int(rng.integers(len(b))) if b else 0
    if op == 0 and b:
      b[p] ^= 1 << int(rng.integers(8))
    elif op == 1 and b:
      del b[p]
    elif op == 2:
      b[p:p] = bytes(rng.integers(0, 256, rng.integers(1, 5)).astype(np.uint8))
    elif op == 3:
      del b[p:]
    else:
      value = int(rng.choice([-1, -2**31, 2**31 - 1, 0x7fc00000, 0x7f800000, 3, 4]))
      b[p:p + 4] = np.array([value], '<i8').astype('<i4').tobytes()
  return bytes(b)


def fuzz(reader, valid: str | bytes, check, tmp_path, name: str, count: int = 300, seed: int = 0) -> dict:
  """Reads ``count`` mutants of ``valid`` with ``reader(path)``; returns how many were accepted / rejected."""
  rng = np.random.default_rng(seed)
  path = tmp_path / name
  outcome = {'accepted': 0, 'rejected': 0}
  for i in range(count):
    if isinstance(valid, bytes):
      mutant = mutate_bytes(valid, rng)
      path.write_bytes(mutant)
    else:
      mutant = mutate_text(valid, rng)
      path.write_bytes(mutant.encode('utf-8', errors='surrogateescape'))
    try:
      result = reader(path)
    except FormatError as e:
      assert str(e).startswith(str(path)), (i, str(e))
      outcome['rejected'] += 1
      continue
    except Exception as e:  # pylint: disable=broad-except
      raise AssertionError(f'mutant {i} of {name} raised {type(e).__name__}: {e}\n--- mutant ---\n'
                           f'{mutant!r}') from e
    try:
      check(result)
    except AssertionError as e:
      raise AssertionError(f'mutant {i} of {name} was accepted with a wrong result: {e}\n--- mutant ---\n'
                           f'{mutant!r}') from e
    outcome['accepted'] += 1
  return outcome
