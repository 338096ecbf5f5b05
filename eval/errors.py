"""Clean command-line failures: bad input ends the program with one clear line, not a traceback."""

from __future__ import annotations

import functools
import sys


def friendly(name: str):
  """Decorates an absl ``main``: FileNotFoundError / ValueError (data's FormatError included) become
  ``<name>: error: <message>`` on stderr and exit status 2; so do other ``OSError``s (an output folder
  that is a file, a read-only or full disk: ``<name>: error: cannot write <path>: <reason>``)."""
  def wrap(main):
    @functools.wraps(main)
    def run(argv):
      try:
        return main(argv)
      except (FileNotFoundError, ValueError) as e:
        print(f'{name}: error: {e}', file=sys.stderr)
        raise SystemExit(2) from None
      except OSError as e:
        where = f' {e.filename}' if e.filename else ''
        print(f'{name}: error: cannot write{where}: {e.strerror or e}; free space or fix the output folder, '
              'then rerun', file=sys.stderr)
        raise SystemExit(2) from None
    return run
  return wrap
