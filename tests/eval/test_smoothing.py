import numpy as np
import pytest

from eval import smoothing


def test_one_euro_lowers_the_jitter_of_a_noisy_slow_signal_and_tracks_it():
  rng = np.random.default_rng(0)
  t = np.arange(200) / 25.0
  truth = np.stack([np.sin(0.5 * t), 0.1 * t], 1)
  noisy = truth + rng.normal(0, 0.05, truth.shape)
  smooth = smoothing.one_euro(noisy, fps=25.0)
  assert smoothing.jitter(smooth) < 0.25 * smoothing.jitter(noisy)
  # Closer to the truth than the noisy input, after the first second.
  assert np.abs(smooth - truth)[25:].mean() < np.abs(noisy - truth)[25:].mean()


def test_one_euro_passes_a_constant_unchanged_and_starts_at_the_first_frame():
  x = np.full((10, 3), 2.5)
  np.testing.assert_allclose(smoothing.one_euro(x, 30.0), x)
  y = np.array([1.0, 5.0, 5.0])
  out = smoothing.one_euro(y, 30.0)
  assert out[0] == 1.0 and 1.0 < out[1] < 5.0


def test_higher_beta_lags_less_behind_a_fast_step():
  x = np.concatenate([np.zeros(10), np.ones(10)])
  slow = smoothing.one_euro(x, 25.0, smoothing.OneEuroConfig(beta=0.0))
  fast = smoothing.one_euro(x, 25.0, smoothing.OneEuroConfig(beta=5.0))
  assert fast[12] > slow[12]


def test_jitter_is_zero_on_a_line_and_known_on_an_alternating_signal():
  assert smoothing.jitter(np.arange(10.0)) == 0.0
  # x = +-1 alternating: |1 - 2(-1) + 1| = 4 at every interior frame.
  assert smoothing.jitter(np.array([1.0, -1.0] * 5)) == pytest.approx(4.0)
  assert smoothing.jitter(np.zeros(2)) == 0.0


@pytest.mark.parametrize('signal, fps', [(np.zeros((2, 2, 2)), 25.0), (np.zeros(3), 0.0),
                                         (np.array([0.0, np.nan]), 25.0)])
def test_bad_input_raises(signal, fps):
  with pytest.raises(ValueError):
    smoothing.one_euro(signal, fps)


def test_bad_filter_parameters_raise():
  with pytest.raises(ValueError, match='min_cutoff'):
    smoothing.OneEuroConfig(min_cutoff=0.0)
