"""A tiny training configuration for the tests (the paper's graph, few basis vectors, 2 frames, 32 px
encoder), and a command-line entry used by the subprocess tests::

    python -m tests.training.tiny RUN_DIR STAGE STEPS [--mirrored] [--stop_at=N] [--checkpoint_every=N]
"""

import sys

if __name__ == '__main__' and '--mirrored' in sys.argv:  # before anything initialises TensorFlow's devices
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0],
                                             [tf.config.LogicalDeviceConfiguration()] * 2)

import dataclasses  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json  # pylint: disable=g-import-not-at-top,g-bad-import-order

from model import config as model_config
from model import encoder as encoder_lib
from training import config as config_lib

MODEL = model_config.ModelConfig(num_identity=8, num_expression=8, num_albedo=8, num_frames=2)
TINY = config_lib.TrainConfig(
    name='tiny', model=MODEL, encoder=encoder_lib.EncoderConfig('small', 32, 0.5, 16),
    losses=dataclasses.replace(config_lib.LossWeights(), perceptual=0.0),
    stages=config_lib.make_stages(10, 10, 10, 3e-3), batch_size=1, checkpoint_every=5, summary_every=1,
    image_every=1000, max_bad_steps=3)


def with_batch(cfg, batch_size):
  return dataclasses.replace(cfg, batch_size=batch_size)


def main(argv):
  run_dir, stage, steps = argv[1], argv[2], int(argv[3])
  opts = dict(a[2:].split('=') for a in argv[4:] if '=' in a)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from training import trainer  # pylint: disable=g-import-not-at-top
  cfg = TINY
  strategy = None
  if '--mirrored' in argv:
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    cfg = with_batch(cfg, 2)
  if 'batch' in opts:
    cfg = with_batch(cfg, int(opts['batch']))
  t = trainer.Trainer(cfg, run_dir, strategy=strategy, progress=False,
                      checkpoint_every=int(opts.get('checkpoint_every', cfg.checkpoint_every)))
  summary = t.run_stage(stage, steps, stop_at=int(opts['stop_at']) if 'stop_at' in opts else None)
  values = {k: v.numpy().tolist() for k, v in t.ae.checkpoint_tree().variables_by_path.items()
            if v.shape.num_elements() < 50000}
  print('RESULT ' + json.dumps({'summary': summary, 'values': values}))


if __name__ == '__main__':
  main(sys.argv)
