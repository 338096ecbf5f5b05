"""Clean command-line failures: bad input ends the program with one clear line, not a traceback."""

from __future__ import annotations

import functools
import sys


def friendly(name: str):
  """Decorates an absl ``main``: FileNotFoundError / ValueError (data's FormatError included) become
  ``<name>: error: <message>`` on stderr and exit status 2."""
  def wrap(main):
    @functools.wraps(main)
    def run(argv):
      try:
        return main(argv)
      except (FileNotFoundError, ValueError) as e:
        print(f'{name}: error: {e}', file=sys.stderr)
        raise SystemExit(2) from None
    return run
  return wrap
