r"""Training throughput: ``python -m training.benchmark [--configs=demo,paper] [--output=FILE.json]``.

For each configuration: the full training step of each stage (``tf.function``, the trainer's own step) in
steps/s, and a breakdown of the combined stage's step into its parts, each timed on its own as a
``tf.function`` (forward + backward where it has trainable inputs): encoder, face model, rendering, each
loss term, the optimiser update, and the synthetic input stream. Parts overlap (e.g. rendering inside the
full step shares work with the losses), so they need not add up to the step. Prints a table, writes JSON.
Times are medians over ``--repeats`` after one warm-up call.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)
from common import machine as common_machine

import json
import os
import statistics
import tempfile
import time

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_list('configs', ['demo', 'paper'], 'Configurations to measure.')
flags.DEFINE_integer('repeats', 5, 'Timed calls per item (median reported).')
flags.DEFINE_string('output', None, 'JSON output path (default: print only).')

PAPER_TITANV_S_PER_ITER = 0.648  # the paper: 117 h for 650k iterations on a TitanV


def _time(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def measure(name: str, repeats: int) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import synthetic_stream  # pylint: disable=g-import-not-at-top
  from model import image_formation  # pylint: disable=g-import-not-at-top
  from training import config as config_lib  # pylint: disable=g-import-not-at-top
  from training import losses  # pylint: disable=g-import-not-at-top
  from training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  cfg = config_lib.get_config(name)
  tr = trainer_lib.Trainer(cfg, tempfile.mkdtemp(prefix=f'bench_{name}_'), progress=False)
  ae = tr.ae
  stream = iter(synthetic_stream.make_stream('combined', cfg.batch_size, num_frames=cfg.model.num_frames,
                                             prefetch=False))
  batch = next(stream)
  rows = {}
  rows['input: synthetic stream (per batch)'] = _time(lambda: next(stream), repeats)
  for stage in cfg.stages:
    variables, scales = tr._variables(stage)  # pylint: disable=protected-access
    opt = trainer_lib.Adam(variables, stage.learning_rate, stage.steps, scales)
    step = tr._make_step(stage, variables, opt, cfg.batch_size)  # pylint: disable=protected-access
    rows[f'step: {stage.name}'] = _time(lambda: step(batch)['total'].numpy(), repeats)
  images = batch['image']
  enc_vars = ae.encoder.trainable_variables

  @tf.function
  def encoder_fb():
    with tf.GradientTape() as tape:
      p = ae.encoder(images, batch['landmarks'])
      y = tf.add_n([tf.reduce_sum(v) for k, v in p.items() if k != 'features'])
    return tape.gradient(y, enc_vars)

  rows['encoder forward+backward'] = _time(lambda: encoder_fb(), repeats)
  params = ae.encoder(images, batch['landmarks'])
  b, f = images.shape[0], images.shape[1]
  fm_vars = ae.face_model.trainable_variables

  @tf.function
  def face_model_fb():
    with tf.GradientTape() as tape:
      out = ae.face_model(alpha=tf.repeat(params['alpha'], f, 0),
                          delta=tf.reshape(params['delta'], [b * f, -1]),
                          beta=tf.repeat(params['beta'], f, 0))
      y = tf.reduce_sum(out['vertices']) + tf.reduce_sum(out['albedo'])
    return tape.gradient(y, fm_vars)

  rows['face model forward+backward'] = _time(lambda: face_model_fb(), repeats)
  out = ae.decode(params)
  verts = tf.reshape(out['vertices'], [b * f, -1, 3])
  albedo = tf.repeat(out['albedo'], f, 0)
  pose = (tf.reshape(params['angles'], [-1, 3]), tf.reshape(params['translation'], [-1, 3]))
  sh = tf.reshape(params['sh'], [-1, 9, 3])

  @tf.function
  def render_fb():
    v = tf.identity(verts)
    with tf.GradientTape() as tape:
      tape.watch(v)
      r = image_formation.render(v, albedo, pose, sh, ae.camera, ae.mesh)
      y = tf.reduce_sum(r['image']) + tf.reduce_sum(r['landmarks2d'])
    return tape.gradient(y, v)

  rows['rendering forward+backward'] = _time(lambda: render_fb(), repeats)
  combined = cfg.stage('combined')
  for term in combined.losses:
    if term == 'perceptual':
      continue
    one = config_lib.StageConfig('combined', 1, 1e-3, (), (term,), 'combined')

    @tf.function
    def loss_fb(one=one):
      with tf.GradientTape() as tape:
        o = {k: tf.identity(v) for k, v in out.items()}
        tape.watch(list(o.values()))
        total, _ = trainer_lib.compute_losses(o, batch, one, cfg.losses, ae.graph_edges)
        y = tf.reduce_sum(total)
      return tape.gradient(y, [o['landmarks2d'], o['image']])

    rows[f'loss: {term}'] = _time(lambda: loss_fb(), repeats)
  variables, scales = tr._variables(combined)  # pylint: disable=protected-access
  opt = trainer_lib.Adam(variables, 1e-3, 100, scales)
  grads = [tf.zeros_like(v) for v in variables]
  apply = tf.function(lambda: opt.apply(grads))
  rows['optimiser update'] = _time(lambda: apply(), repeats)
  del losses
  return {'config': name, 'batch_size': cfg.batch_size, 'num_frames': cfg.model.num_frames,
          'image_size': cfg.model.image_size, 'vertices': ae.template.num_vertices,
          'tower': cfg.encoder.tower,
          'encoder_input': cfg.encoder.input_size, 'seconds': rows,
          'steps_per_s': {k[len('step: '):]: 1.0 / v for k, v in rows.items() if k.startswith('step: ')}}


def main(argv):
  del argv
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.WARNING)
  machine = common_machine.summary()
  results = {'machine': machine, 'machine_details': common_machine.describe(),
             'note': 'CPU only; shared machines make these noisy',
             'paper_titanv_s_per_iteration': PAPER_TITANV_S_PER_ITER, 'configs': []}
  for name in FLAGS.configs:
    results['configs'].append(measure(name, FLAGS.repeats))
  keys = list(dict.fromkeys(k for r in results['configs'] for k in r['seconds']))
  names = [r['config'] for r in results['configs']]
  print(f'machine: {machine}')
  print('| item (ms) | ' + ' | '.join(names) + ' |')
  print('|---|' + '---|' * len(names))
  for k in keys:
    cells = (f'{r["seconds"].get(k, float("nan")) * 1e3:.1f}' for r in results['configs'])
    print(f'| {k} | ' + ' | '.join(cells) + ' |')
  for r in results['configs']:
    combined_s = r['seconds']['step: combined']
    print(f'{r["config"]}: combined step {combined_s:.3f} s = {1 / combined_s:.2f} steps/s '
          f'(paper: {PAPER_TITANV_S_PER_ITER} s/iteration on a TitanV; '
          f'ratio {combined_s / PAPER_TITANV_S_PER_ITER:.2f})')
  if FLAGS.output:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, 'w') as fh:
      json.dump(results, fh, indent=1)
    print(f'wrote {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main)
