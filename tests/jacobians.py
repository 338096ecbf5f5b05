"""Finite-difference Jacobian checks shared by the test packages.

``tf.test.compute_gradient`` gives the analytic Jacobian (from the registered or custom gradients) and a
central-difference one; in float32 with ``DELTA = 1e-3`` they agree to ~1e-3 of the Jacobian's largest
entry for smooth functions of O(1) inputs.
"""

from __future__ import annotations

import typing

import numpy as np
import tensorflow as tf

DELTA = 1e-3


def assert_jacobians_close(theoretical: np.ndarray, numerical: np.ndarray,
                           rows: typing.Optional[np.ndarray] = None, rtol: float = 2e-3) -> None:
  """Asserts two Jacobians agree on ``rows`` (all rows by default) to ``rtol`` of the largest entry.

  Fails on a vacuous comparison (a numerical Jacobian that is ~0 everywhere).
  """
  if rows is not None:
    theoretical, numerical = theoretical[rows], numerical[rows]
  scale = np.max(np.abs(numerical))
  assert scale > 1e-2, 'vacuous comparison: the Jacobian is ~0'
  np.testing.assert_allclose(theoretical, numerical, atol=rtol * scale, rtol=rtol)


def assert_gradients_match_finite_differences(function: typing.Callable[..., tf.Tensor],
                                              inputs: typing.Sequence[np.ndarray],
                                              delta: float = DELTA, rtol: float = 2e-3) -> None:
  """Checks the Jacobian of ``function`` with respect to every input (float32) against central differences."""
  tensors = [tf.constant(np.asarray(x, np.float32)) for x in inputs]
  theoretical, numerical = tf.test.compute_gradient(function, tensors, delta=delta)
  for index, (t, n) in enumerate(zip(theoretical, numerical)):
    try:
      assert_jacobians_close(t, n, rtol=rtol)
    except AssertionError as error:
      raise AssertionError(f'Jacobian with respect to input {index}: {error}') from None
