"""Fixtures of the application tests: a tiny untrained model as a run folder, shared media paths."""

import pytest

from common import paths
from tests.eval import tiny_run


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
