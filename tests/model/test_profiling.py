"""model.profiling's op-level profile: it finds the ops of a traced step and sorts them into stages."""

import numpy as np
import pytest
import tensorflow as tf

from model import profiling


@pytest.mark.parametrize('name, op_type, stage', [
    ('render/RasterizeTriangles', 'RasterizeTriangles', 'rasterizer op'),
    ('gradient_tape/render/InterpolateAttributesGrad', 'InterpolateAttributesGrad', 'rasterizer op'),
    ('gradient_tape/face_model_1/MatMul_5/MatMul_1', 'MatMul', 'face model'),
    ('gradient_tape/render/einsum/Einsum', 'Einsum', 'image formation (rest)'),
    ('corner_values_grad/GatherV2', 'GatherV2', 'image formation (rest)'),
    ('loss/mul', 'Mul', 'loss'),
    ('AddN_3', 'AddN', 'other'),
])
def test_ops_are_sorted_into_stages_by_type_and_name_scope(name, op_type, stage):
  assert profiling.stage(name, op_type) == stage


@pytest.mark.parametrize('op_type, family', [
    ('MatMul', 'MatMul'), ('_MklMatMul', 'MatMul'), ('_MklNativeFusedMatMul', 'MatMul'),
    ('_FusedMatMul', 'MatMul'), ('_MklFusedConv2D', 'Conv2D'), ('_MklNativeConv2D', 'Conv2D'),
    ('BatchMatMulV2', 'BatchMatMulV2'), ('FusedBatchNormV3', 'FusedBatchNormV3'),
    ('_MklFusedBatchNormV3', 'FusedBatchNormV3'), ('AddN', 'AddN'),
    ('RasterizeTriangles', 'RasterizeTriangles'),
])
def test_op_family_names_the_op_whichever_cpu_kernel_ran(op_type, family):
  assert profiling.op_family(op_type) == family


def test_op_profile_times_the_ops_of_a_traced_step():
  weights = tf.Variable(np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32))

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      with tf.name_scope('loss'):
        loss = tf.reduce_sum(tf.square(tf.matmul(weights, weights)))
    return loss, tape.gradient(loss, [weights])

  profile = profiling.op_profile(step, warmup=1, repeats=3)
  families = {op['family'] for op in profile['ops']}
  assert 'MatMul' in families  # '_MklMatMul' where TensorFlow uses oneDNN
  assert all(op['family'] == profiling.op_family(op['type']) for op in profile['ops'])
  assert all(op['ms'] >= 0 for op in profile['ops'])
  assert profile['total_ms'] > 0
  np.testing.assert_allclose(sum(profile['stages'].values()), profile['total_ms'])
  assert profile['stages']['loss'] > 0
