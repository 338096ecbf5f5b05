"""Static shape checks for the model layer's public functions.

``ShapeChecker`` compares the static shapes of a function's tensor arguments with a written-down spec,
binding named sizes ('B', 'N') across arguments, and raises a ``ValueError`` that names the function,
the argument, the expected and the received shape::

    check = ShapeChecker('render')
    vertices = check('vertices', vertices, ('B', 'N', 3))
    albedo = check('albedo', albedo, ('B', 'N', 3))     # B and N must match the vertices'

Only static information is used (no run-time assert ops, so the checks cost nothing inside a
``tf.function``); sizes unknown at trace time are skipped.
"""

from __future__ import annotations

import typing

import tensorflow as tf

Dim = typing.Union[int, str, None]  # fixed size, named size bound across arguments, or any size


def _spec_text(spec: typing.Sequence[Dim]) -> str:
  return '[' + ', '.join('?' if d is None else str(d) for d in spec) + ']'


class ShapeChecker:
  """Checks tensor arguments of one call against shape specs, binding named sizes across them."""

  def __init__(self, function: str):
    self.function = function
    self.sizes: dict[str, tuple[int, str]] = {}  # name -> (size, argument that fixed it)

  def __call__(self, name: str, value, spec: typing.Sequence[Dim],
               dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Converts ``value`` to a ``dtype`` tensor and checks it against ``spec``.

    Args:
      name: the argument's name, for the message.
      value: tensor-like.
      spec: one entry per axis: an int (that size), a str (a size shared with other arguments of the
        same call), or None (any size); a leading '...' stands for any number of leading axes.
      dtype: the dtype to convert to.

    Returns:
      The converted tensor.

    Raises:
      ValueError: on a wrong rank, a wrong fixed size, or a named size that differs between arguments.
    """
    tensor = tf.convert_to_tensor(value, dtype)
    shape = tensor.shape
    if shape.rank is None:
      return tensor
    if spec and spec[0] == '...':  # any leading axes: check the trailing ones
      if shape.rank < len(spec) - 1:
        raise ValueError(f'{self.function}: {name} must have shape {_spec_text(spec)} (rank >= '
                         f'{len(spec) - 1}), got shape {shape.as_list()} (rank {shape.rank})')
      spec = [None] * (shape.rank - len(spec) + 1) + list(spec[1:])
    if shape.rank != len(spec):
      raise ValueError(f'{self.function}: {name} must have shape {_spec_text(spec)} (rank {len(spec)}), '
                       f'got shape {shape.as_list()} (rank {shape.rank})')
    for axis, (want, got) in enumerate(zip(spec, shape.as_list())):
      if got is None or want is None:
        continue
      if isinstance(want, int):
        if got != want:
          raise ValueError(f'{self.function}: {name} must have shape {_spec_text(spec)}, got '
                           f'{shape.as_list()} (axis {axis} is {got}, expected {want})')
        continue
      if want in self.sizes and self.sizes[want][0] != got:
        size, source = self.sizes[want]
        raise ValueError(f'{self.function}: {name} must have shape {_spec_text(spec)} with {want} = {size} '
                         f'(from {source}), got {shape.as_list()}')
      self.sizes.setdefault(want, (got, name))
    return tensor
