"""Temporal smoothing of per-frame parameters (pose, expression) and a measure of jitter.

Video reconstruction predicts every frame independently, so pose and expression shake from frame to frame.
The filter is the One Euro filter (Casiez, Roussel and Vogel, CHI 2012): an exponential low-pass filter whose
cut-off frequency rises with the signal's speed, so slow motion (where jitter shows) is smoothed strongly and
fast motion (a head turn, an opening mouth) follows with little lag:

    f_c(t) = min_cutoff + beta * |dx_hat(t)|          (Hz; dx_hat: the low-passed derivative)
    a(f)   = 1 / (1 + 1 / (2 pi f T))                   (T = 1 / fps)
    x_hat(t) = a(f_c) x(t) + (1 - a(f_c)) x_hat(t-1)

applied independently to every parameter. Jitter is the mean absolute second difference (the discrete
acceleration), which a still or uniformly moving signal does not have and noise does.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class OneEuroConfig:
  """Parameters of the One Euro filter.

  Attributes:
    min_cutoff: cut-off frequency at rest, Hz (lower = smoother, more lag for slow motion).
    beta: speed coefficient (higher = less lag in fast motion).
    derivative_cutoff: cut-off of the derivative's low-pass filter, Hz.
  """
  min_cutoff: float = 1.0
  beta: float = 0.3
  derivative_cutoff: float = 1.0

  def __post_init__(self):
    if self.min_cutoff <= 0 or self.derivative_cutoff <= 0 or self.beta < 0:
      raise ValueError(f'One Euro filter needs min_cutoff > 0, derivative_cutoff > 0, beta >= 0: {self}')


def _alpha(cutoff, period: float):
  return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * period))


def one_euro(signal: np.ndarray, fps: float, config: OneEuroConfig = OneEuroConfig()) -> np.ndarray:
  """Filters a sequence with the One Euro filter (causal; each column independently).

  Args:
    signal: float [T, D] per-frame values (T frames, D parameters), or [T].
    fps: frames per second of the sequence (> 0).
    config: filter parameters.

  Returns:
    float64 array of the input's shape; frame 0 is passed through.

  Raises:
    ValueError: fps not positive, non-finite values, or a rank other than 1 or 2.
  """
  x = np.asarray(signal, np.float64)
  if x.ndim not in (1, 2):
    raise ValueError(f'signal must be [T] or [T, D], got shape {x.shape}')
  if not fps > 0:
    raise ValueError(f'fps must be positive, got {fps}')
  if not np.isfinite(x).all():
    raise ValueError('signal has non-finite values')
  out = x.copy()
  if len(x) < 2:
    return out
  period = 1.0 / fps
  dx_hat = np.zeros_like(x[0])
  a_d = _alpha(config.derivative_cutoff, period)
  for t in range(1, len(x)):
    dx = (x[t] - out[t - 1]) / period
    dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
    a = _alpha(config.min_cutoff + config.beta * np.abs(dx_hat), period)
    out[t] = a * x[t] + (1.0 - a) * out[t - 1]
  return out


def jitter(signal: np.ndarray) -> float:
  """Mean absolute second difference |x[t+1] - 2 x[t] + x[t-1]| over frames and parameters.

  Args:
    signal: float [T, D] or [T]; fewer than 3 frames give 0.

  Returns:
    The jitter, in the signal's units per frame^2.
  """
  x = np.asarray(signal, np.float64)
  if len(x) < 3:
    return 0.0
  return float(np.abs(x[2:] - 2.0 * x[1:-1] + x[:-2]).mean())
