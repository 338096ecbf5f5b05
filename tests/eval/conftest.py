"""Fixtures for the eval tests: a tiny synthetic world, model exports (test-only stand-ins), a tiny untrained
model as a run folder and shared media paths."""

import numpy as np
import pytest

from common import paths
from eval import model_io
from tests.eval import helpers
from tests.eval import tiny_run


@pytest.fixture(scope='session')
def synthetic(tmp_path_factory):
  from data import synthetic  # pylint: disable=g-import-not-at-top
  cfg = synthetic.SyntheticConfig(num_identities=1, num_frames=2, num_neutral=2, num_test_subjects=1,
                                  test_expressions=('NE00', 'HA04'), test_image_size=256, seed=3)
  return synthetic.ensure_synthetic_dataset(cfg, tmp_path_factory.mktemp('eval') / 'syn')


@pytest.fixture(scope='session')
def ict_export(tmp_path_factory):
  return helpers.make_export(tmp_path_factory.mktemp('models') / 'ict.npz', 'ict')


@pytest.fixture(scope='session')
def random_export(tmp_path_factory):
  return helpers.make_export(tmp_path_factory.mktemp('models') / 'random.npz', 'random')


class Oracle:
  """Test stand-in for a perfect reconstructor: returns given ground-truth meshes and poses in order."""

  def __init__(self, vertices, identity_vertices, angles, translation, image_size, name='oracle'):
    self.name = name
    self.topology = model_io.template_topology('narrow')
    self._v, self._i, self._a, self._t = vertices, identity_vertices, angles, translation
    self._size = image_size
    self._next = 0

  def reconstruct(self, images, landmarks2d=None, image_size=None):
    b = len(images)
    s = slice(self._next, self._next + b)
    self._next += b
    return model_io.Reconstruction(self._v[s].astype(np.float64), self._i[s].astype(np.float64),
                                   self._a[s], self._t[s], np.full(b, model_io.default_focal(self._size)),
                                   (self._size, self._size))


@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory):
  return tiny_run.make_run(tmp_path_factory.mktemp('tiny_model') / 'run')


@pytest.fixture(scope='session')
def tiny_model(tiny_model_dir):
  from model import reconstruction
  return reconstruction.load_autoencoder(tiny_model_dir)


@pytest.fixture(scope='session')
def photo():
  return paths.shared_path('media', 'photos', 'obama.jpg')


@pytest.fixture(scope='session')
def video():
  return paths.shared_path('media', 'video', 'talking_child_d11.mp4')
