r"""Train the face model and the encoder: ``python -m training.main``.

  python -m training.main --config=demo --stage=all --run_dir=runs/demo            # synthetic world
  python -m training.main --config=paper --stage=identity --run_dir=runs/paper \
      --data='prepared/voxceleb/*.tfrecord' --neutral_data='prepared/emotionet/*.tfrecord'
  python -m training.main --config=demo --stage=combined --strategy=mirrored ...    # all local GPUs

Stages (paper Sec. 4.1): pose -> identity -> [expression ->] combined; ``all`` runs the configuration's
stages in order (the demo's render-free expression stage: ``training.config.make_stages``). Each stage starts
from its own newest checkpoint (resume) or the previous stage's final checkpoint in ``--run_dir``. A run
folder holds ``config.json`` (with its hash), ``checkpoints/<stage>/``, TensorBoard ``events/<stage>/``,
``history/<stage>.jsonl`` (every step's loss terms), ``export/<stage>.npz`` (``model.export``),
``figures/<stage>_<basis>.png`` (Figure-1 grids) and, after the last stage, ``saved_model/`` (serving
signature: images in, parameters and vertices out). Ctrl-C / SIGTERM save a checkpoint and stop; the same
command resumes.

Data: ``--data=synthetic`` (default) generates an unlimited stream of ground-truth faces on the fly
(``data.synthetic_stream``); a glob reads TFRecords written by ``python -m data.prepare``. The identity stage
reads ``--neutral_data`` (or ``--data`` when not given); the combined stage mixes ``--data`` (video) and
``--neutral_data`` 3 : 1.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import sys

from absl import flags

from training import personalize_flags

FLAGS = flags.FLAGS
flags.DEFINE_enum('stage', 'all', ['pose', 'identity', 'expression', 'combined', 'all', 'personalize'],
                  'Stage(s) to train; personalize: training.personalize (--model, --video).')
flags.DEFINE_enum('config', 'demo', ['paper', 'demo', 'paper_image_only', 'demo_image_only'],
                  'Named training configuration (training.config; *_image_only: the paper\'s pixels-only '
                  'encoder).')
flags.DEFINE_string('run_dir', 'runs/demo', 'Run folder (created; resumed when it exists).')
flags.DEFINE_string('data', 'synthetic',
                    "'synthetic' or a glob of data.prepare TFRecords (video/multi-frame).")
flags.DEFINE_string('perceptual_net', 'dlib',
                    "Perceptual loss network (Eq. 9): 'dlib' (dlib's face ResNet in Keras, shipped) or "
                    "'vgg16:PATH' (a local Keras VGG16 ImageNet .h5; nothing downloads).")
flags.DEFINE_string('neutral_data', None, 'Glob of neutral-image TFRecords (identity stage; combined 3:1).')
flags.DEFINE_integer('steps', None, "Override every selected stage's number of steps.")
flags.DEFINE_list('loss_weights', [], 'Loss weight overrides NAME=VALUE (training.config.LossWeights), e.g. '
                  "'lip=0' or 'disentanglement=0' for the paper's ablations; recorded in config.json.")
flags.DEFINE_list('stage_steps', [], 'Stage lengths NAME=STEPS, e.g. '
                  "pose=2000,identity=2000,combined=8000 (a longer run: each stage's learning-rate schedule "
                  'is stretched); recorded in config.json.')
flags.DEFINE_integer('checkpoint_every', None, 'Steps between checkpoints (default: the configuration).')
flags.DEFINE_enum('strategy', 'default', ['default', 'mirrored'], 'tf.distribute strategy.')
flags.DEFINE_bool('deterministic', False, 'Deterministic ops and input order (slower).')
flags.DEFINE_bool('progress', True, 'Show the tqdm progress bar.')
flags.DEFINE_bool('serving_model', True, 'Write the SavedModel after the last stage.')
flags.DEFINE_integer('max_bad_records', 100, 'Stop after this many unreadable TFRecords in a row '
                     '(fewer are skipped and counted; docs/cli_contract.md).', lower_bound=1)
personalize_flags.define_flags(FLAGS)


def main(argv):
  del argv
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.WARNING)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from training import config as config_lib  # pylint: disable=g-import-not-at-top
  from training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  if FLAGS.stage == 'personalize':
    from training import personalize  # pylint: disable=g-import-not-at-top
    sys.exit(personalize.main(FLAGS))
  if FLAGS.deterministic:
    tf.config.experimental.enable_op_determinism()
  try:
    cfg = config_lib.override(
        config_lib.get_config(FLAGS.config),
        loss_weights=config_lib.parse_assignments(FLAGS.loss_weights, '--loss_weights'),
        stage_steps=config_lib.parse_assignments(FLAGS.stage_steps, '--stage_steps'))
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  strategy = tf.distribute.MirroredStrategy() if FLAGS.strategy == 'mirrored' else None
  try:
    features_fn = (trainer_lib.perceptual_features_fn(FLAGS.perceptual_net) if cfg.losses.perceptual > 0
                   else None)
    trainer = trainer_lib.Trainer(cfg, FLAGS.run_dir, data=FLAGS.data, neutral_data=FLAGS.neutral_data,
                                  strategy=strategy, checkpoint_every=FLAGS.checkpoint_every,
                                  deterministic=FLAGS.deterministic, features_fn=features_fn,
                                  progress=FLAGS.progress, max_bad_records=FLAGS.max_bad_records)
  except (trainer_lib.InputError, FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  stages = [s.name for s in cfg.stages] if FLAGS.stage == 'all' else [FLAGS.stage]
  try:
    for name in stages:
      summary = trainer.run_stage(name, FLAGS.steps)
      print(f'[{name}] done: {summary}')
  except trainer_lib.TrainingDiverged as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(3)
  except (trainer_lib.InputError, trainer_lib.OutputError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    sys.exit(130)
  if FLAGS.serving_model and stages[-1] == cfg.stages[-1].name:
    try:
      print(f'SavedModel: {trainer.save_serving_model()}')
    except (OSError, tf.errors.OpError) as e:
      print(f'error: cannot write the SavedModel in {trainer.run_dir} ({getattr(e, "strerror", None) or e}); '
            'free space, then rerun the same command (the training is done: only the export is redone).',
            file=sys.stderr)
      sys.exit(2)
  print(f'run folder: {trainer.run_dir}')


if __name__ == '__main__':
  cli.run(main)
