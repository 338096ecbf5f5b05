"""Shared, session-scoped fixtures: the default template, its graph, a seeded face model."""

import numpy as np
import pytest

from model import deformation_graph
from model import face_model
from model import image_formation
from model import template as template_lib


@pytest.fixture(scope='session')
def template():
  return template_lib.load_template()


@pytest.fixture(scope='session')
def graph(template):
  return deformation_graph.load_deformation_graph(template)


@pytest.fixture(scope='session')
def mesh(template):
  return image_formation.RenderMesh.from_template(template)


@pytest.fixture()
def small_model(template, graph):
  """A fresh (per test) face model with the paper's sizes and a fixed seed."""
  return face_model.build_face_model(template, graph, seed=3)


@pytest.fixture(scope='session')
def rng():
  return np.random.default_rng(0)
