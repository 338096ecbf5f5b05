"""The one error type of the project's file readers.

Every reader of a dataset or model file (``data.voxceleb``, ``data.emotionet``, ``data.bu3dfe``, ``data.lfw``,
``model.export``) raises ``FormatError`` when a file's contents are malformed: a missing block, a count that
does not match, an index out of range, a non-finite number. The message names the file and, for text files,
the 1-based line (``pairs.txt:7: ...``). ``FormatError`` is a ``ValueError``, so callers that catch
``ValueError`` keep working. A file that cannot be opened raises ``OSError`` as usual.
"""

from __future__ import annotations

import os


class FormatError(ValueError):
  """A malformed file.

  Attributes:
    path: the file (as given to the reader).
    line: 1-based line number of the offending text, or None (binary data, whole-file problems).
    reason: what was expected and what came, without the location.
  """

  def __init__(self, path: str | os.PathLike, reason: str, line: int | None = None):
    self.path = str(path)
    self.line = line
    self.reason = reason
    where = f'{self.path}:{line}' if line is not None else self.path
    super().__init__(f'{where}: {reason}')

  def __reduce__(self):  # picklable (Apache Beam workers send exceptions between processes)
    return type(self), (self.path, self.reason, self.line)
