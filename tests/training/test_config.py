"""training.config: the curriculum's stages, the render-free stages' sample pool."""

import pytest

from training import config as config_lib
from training import trainer as trainer_lib


def test_only_render_free_stages_cycle_a_sample_pool():
  stages = config_lib.make_stages(1, 1, 1, 1e-3, identity_losses=config_lib.LANDMARK_TERMS,
                                  expression_steps=1, sample_pool=16)
  weights = config_lib.LossWeights()
  for s in stages:
    renders = bool(trainer_lib.IMAGE_TERMS & trainer_lib.active_terms(s, weights))
    assert (s.sample_pool > 0) == (not renders), s.name
  # With image terms in the identity stage (the paper's), it reads the unlimited stream.
  paper = config_lib.make_stages(1, 1, 1, 1e-3, sample_pool=16)
  assert [s.sample_pool for s in paper] == [16, 0, 0]


def test_the_demo_learns_expressions_from_landmarks_before_the_image_terms():
  demo = config_lib.get_config('demo')
  assert [s.name for s in demo.stages] == ['pose', 'identity', 'expression', 'combined']
  expression = demo.stage('expression')
  assert 'M_gexp' in expression.trainable and 'disentanglement' in expression.losses
  assert not trainer_lib.IMAGE_TERMS & set(expression.losses) and expression.data == 'combined'
  # The paper's configuration keeps the paper's three stages.
  assert [s.name for s in config_lib.get_config('paper').stages] == ['pose', 'identity', 'combined']


def test_a_negative_pool_is_rejected():
  with pytest.raises(ValueError, match='Invalid stage'):
    config_lib.StageConfig('pose', 1, 1e-3, ('tower',), ('landmark',), 'video', sample_pool=-1)
