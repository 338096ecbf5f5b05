r"""Cost of the training input's bad-record validation against the training step.

  python -m training.input_benchmark [--config=demo] [--stages=pose,combined] [--output=FILE.json]

TFRecord input goes through ``data.pipeline.make_dataset(skip_bad_records=N)`` (training's path, see "Bad
records" in ``data.pipeline``): the records of each file are accounted against its size, a record that
cannot be parsed is dropped and counted, and every element gets ``record_ok`` / ``bad_records`` /
``bad_source``, which ``Trainer.run_stage`` reads once per batch (``Trainer._count_bad_records``). This
program builds both pipelines the way ``training.trainer.make_input`` does (unbatched elements, then the
stage's batch and a prefetch of 2), with and without ``skip_bad_records``, and iterates them in turn in one
process: the difference of their CPU time per record (the tf.data threads included) is the validation's
cost. The pipeline runs beside the step, but on a machine whose cores the step keeps busy every CPU second
it takes is a second the step loses, so the cost is reported as the validation's CPU time per step (per
record x the stage's batch, plus the trainer's per-batch check) over the step's wall time, which is an upper
bound on the slowdown. It is also reported against the step as training on TFRecords runs it (the next
batch from the pipeline with distance transforms, the trainer's check, the step; ``--loop_rounds``): on a
machine where the input pipeline and the step share the cores, that is the time a step really takes.

Two parse modes: ``full`` is the real ``parse_record`` (JPEG / PNG decoding, ~4 ms per 4-frame record,
which makes the difference noisy), ``stub`` replaces it with a stub that returns the element's keys as
one-value tensors after one ``parse_single_example`` of one key (plus the schema-version key and check
the validated path adds), so only the machinery of the two pipelines (file reading, accounting, counting,
batching) is timed; tf.data passes tensors by reference,
so that machinery does not depend on the tensors' sizes. The records are one shard of
``--records_per_file`` records (the synthetic set's clips, repeated: a file end marker per
``--records_per_file`` records, as in a prepared shard) unless ``--records`` names others. Rounds alternate
the two pipelines (ABBA); the cost is the median over rounds of the paired differences. Prints a table,
writes JSON.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)
from common import machine as common_machine

import json
import os
import pathlib
import statistics
import tempfile
import time
from unittest import mock

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string('config', 'demo', 'Training configuration whose steps are the reference.')
flags.DEFINE_list('stages', ['pose', 'combined'], 'Stages whose step is timed (the first one\'s batch size '
                  'batches the pipelines).')
flags.DEFINE_string('records', None, 'TFRecords to read (default: a shard of --records_per_file records made '
                    'from the synthetic set).')
flags.DEFINE_integer('records_per_file', 256, 'Records of the default shard.')
flags.DEFINE_list('parse', ['stub', 'full'], 'Parse modes: stub (the pipelines\' machinery only), full.')
flags.DEFINE_integer('rounds', 8, 'Timed rounds per pipeline and parse mode (alternating).')
flags.DEFINE_integer('records_timed', 400, 'Records per round with the full parse (stub: 10x as many).')
flags.DEFINE_enum('distance_transforms', 'none', ['fast', 'exact', 'none'],
                  'Distance transforms of the full parse (training uses fast; the validation\'s cost does '
                  'not depend on them, and none makes the difference less noisy).')
flags.DEFINE_integer('step_repeats', 20, 'Timed steps per stage (median reported).')
flags.DEFINE_integer('loop_rounds', 2, 'Rounds per input of the training loop on TFRecords (0: skip it).')
flags.DEFINE_integer('loop_steps', 25, 'Steps per round of the training loop on TFRecords.')
flags.DEFINE_string('baseline_pipeline', None, 'Another version of data/pipeline.py whose validated pipeline '
                    'is timed beside this one (before / after comparisons in one run).')
flags.DEFINE_string('output', None, 'JSON output path (default: print only).')

STUB_RECORDS_FACTOR = 10


def write_shard(source_patterns, count: int, path: pathlib.Path) -> pathlib.Path:
  """One TFRecord file of ``count`` records, cycling over the records of ``source_patterns``."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import pipeline  # pylint: disable=g-import-not-at-top
  source = [r.numpy() for r in tf.data.TFRecordDataset(pipeline.list_files(source_patterns))]
  with tf.io.TFRecordWriter(str(path)) as w:
    for i in range(count):
      w.write(source[i % len(source)])
  return path


def _stub_parse(serialized, num_frames=4, distance_transforms='fast', check_version=False):
  """The element's keys as one-value tensors that depend on the record (no decoding)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import pipeline, schema  # pylint: disable=g-import-not-at-top
  del num_frames, distance_transforms
  n = tf.strings.length(serialized)
  spec = {'meta/clip_id': tf.io.FixedLenFeature([], tf.string)}  # one parse, as in parse_record
  if check_version:  # the validated path's extra work in parse_record: one more key and its check
    spec['meta/schema_version'] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
  ex = tf.io.parse_single_example(serialized, spec)
  if check_version:
    tf.debugging.assert_equal(ex['meta/schema_version'], tf.constant(schema.SCHEMA_VERSION, tf.int64),
                              message='schema version')
  return {k: ex['meta/clip_id'][tf.newaxis] if v.dtype == tf.string
          else tf.fill([1], tf.cast(n, v.dtype)) for k, v in pipeline.element_spec(1, None).items()}


def _stub_placeholder(num_frames):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import pipeline  # pylint: disable=g-import-not-at-top
  del num_frames
  return {k: tf.constant([''], tf.string) if v.dtype == tf.string else tf.zeros([1], v.dtype)
          for k, v in pipeline.element_spec(1, None).items()}


def _dataset(files, cfg, batch_size: int, validated: bool, distance_transforms: str, pipeline=None):
  """``trainer.make_input``'s TFRecord path (one source), with or without the validation; ``pipeline``: the
  module to build it with (default ``data.pipeline``)."""
  if pipeline is None:
    from data import pipeline  # pylint: disable=g-import-not-at-top,redefined-outer-name
  ds = pipeline.make_dataset(files, num_frames=cfg.model.num_frames, batch_size=None, seed=cfg.seed,
                             distance_transforms=distance_transforms,
                             skip_bad_records=pipeline.DEFAULT_MAX_BAD_RECORDS if validated else None)
  return ds.skip(0).batch(batch_size, drop_remainder=True).prefetch(2)


def load_baseline(path: str):
  """Another version of ``data/pipeline.py`` (e.g. ``git show HEAD:data/pipeline.py > /tmp/p.py``) as a
  module, whose validated pipeline is timed beside this one's."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location('baseline_pipeline', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _time_pipeline(make, batches: int, warmup: int = 5) -> tuple[float, float]:
  """(wall s, process CPU s) of ``batches`` batches after ``warmup`` of them."""
  it = iter(make())
  for _ in range(warmup):
    next(it)
  t0, c0 = time.perf_counter(), time.process_time()
  for _ in range(batches):
    next(it)
  wall, cpu = time.perf_counter() - t0, time.process_time() - c0
  del it
  return wall, cpu


def measure_pipelines(files, cfg, batch_size: int, parse: str, rounds: int, records: int,
                      distance_transforms: str, baseline=None) -> dict:
  """Per-record CPU and wall time of the plain and the validated pipeline (and ``baseline``'s validated
  pipeline), in rounds of alternating order."""
  from data import pipeline  # pylint: disable=g-import-not-at-top
  batches = max(1, records // batch_size)
  modules = [pipeline] + ([baseline] if baseline else [])
  patches = [mock.patch.object(m, name, fn) for m in modules
             for name, fn in (('parse_record', _stub_parse), ('_placeholder', _stub_placeholder))
             ] if parse == 'stub' else []
  variants = {'plain': (False, None), 'validated': (True, None)}
  if baseline:
    variants['validated_baseline'] = (True, baseline)
  for p in patches:
    p.start()
  try:
    times = {k: [] for k in variants}
    for r in range(rounds):
      for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
        validated, module = variants[name]
        wall, cpu = _time_pipeline(lambda: _dataset(files, cfg, batch_size, validated, distance_transforms,
                                                    module), batches)
        times[name].append((wall / (batches * batch_size), cpu / (batches * batch_size)))
  finally:
    for p in patches:
      p.stop()
  cpu = {k: [c for _, c in v] for k, v in times.items()}
  wall = {k: [w for w, _ in v] for k, v in times.items()}
  out = {'parse': parse, 'records_per_round': batches * batch_size, 'rounds': rounds,
         'cpu_s_per_record': {k: statistics.median(v) for k, v in cpu.items()},
         'wall_s_per_record': {k: statistics.median(v) for k, v in wall.items()},
         'cpu_s_per_record_rounds': cpu}
  for name in variants:
    if name != 'plain':
      diff = [v - p for v, p in zip(cpu[name], cpu['plain'])]
      suffix = name[len('validated'):]
      out[f'validation{suffix}_cpu_s_per_record'] = statistics.median(diff)
      out[f'validation{suffix}_cpu_s_per_record_rounds'] = diff
  return out


def measure_trainer(cfg, files, stages, repeats: int, loop_rounds: int, loop_steps: int) -> dict:
  """Per stage: the step's wall time on one validated batch, the trainer's per-batch check, and the wall
  time per step of the training loop on TFRecords (input included), with plain and validated input."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  del tf
  tr = trainer_lib.Trainer(cfg, tempfile.mkdtemp(prefix='input_bench_'), data=files, progress=False)
  out = {}
  for name in stages:
    stage, bs = cfg.stage(name), cfg.stage_batch_size(name)
    batch = next(iter(_dataset(files, cfg, bs, True, 'fast')))
    variables, scales = tr._variables(stage)  # pylint: disable=protected-access
    opt = trainer_lib.Adam(variables, stage.learning_rate, max(stage.steps, 1), scales)
    step = tr._make_step(stage, variables, opt, bs)  # pylint: disable=protected-access
    float(step(batch)['total'])
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      float(step(batch)['total'])
      times.append(time.perf_counter() - t0)
    checks = []
    for _ in range(5):
      t0 = time.perf_counter()
      for _ in range(100):
        tr._count_bad_records(name, batch)  # pylint: disable=protected-access
      checks.append((time.perf_counter() - t0) / 100)
    # The step as training on TFRecords runs it: the next batch from the pipeline (distance transforms on, as
    # in training), the trainer's check, the step; plain and validated input in alternating rounds.
    loops = {'plain': [], 'validated': []}
    for r in range(2 * loop_rounds):
      validated = (r % 2 == 1) == (r % 4 < 2)  # ABBA
      it = iter(_dataset(files, cfg, bs, validated, 'fast'))
      for _ in range(3):
        float(step(next(it))['total'])
      t0 = time.perf_counter()
      for _ in range(loop_steps):
        b = next(it)
        if validated:
          tr._count_bad_records(name, b)  # pylint: disable=protected-access
        float(step(b)['total'])
      loops['validated' if validated else 'plain'].append((time.perf_counter() - t0) / loop_steps)
      del it
    out[name] = {'batch_size': bs, 'step_s': statistics.median(times), 'check_s': statistics.median(checks),
                 'record_step_s': {k: statistics.median(v) for k, v in loops.items() if v},
                 'record_step_s_rounds': loops}
  return out


def main(argv):
  del argv
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.WARNING)
  from data import synthetic  # pylint: disable=g-import-not-at-top
  from training import config as config_lib  # pylint: disable=g-import-not-at-top
  cfg = config_lib.get_config(FLAGS.config)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix='input_bench_records_'))
  files = FLAGS.records or str(write_shard(synthetic.ensure_synthetic_dataset().train_video,
                                           FLAGS.records_per_file, tmp / 'bench-00000-of-00001.tfrecord'))
  stages = list(FLAGS.stages)
  bs = cfg.stage_batch_size(stages[0])
  baseline = load_baseline(FLAGS.baseline_pipeline) if FLAGS.baseline_pipeline else None
  machine = common_machine.summary()
  results = {'machine': machine, 'machine_details': common_machine.describe(), 'config': FLAGS.config,
             'records': files, 'records_per_file': None if FLAGS.records else FLAGS.records_per_file,
             'pipeline_batch_size': bs, 'distance_transforms': FLAGS.distance_transforms,
             'baseline_pipeline': FLAGS.baseline_pipeline, 'load_average_before': os.getloadavg(),
             'pipelines': {}}
  results['trainer'] = measure_trainer(cfg, files, stages, FLAGS.step_repeats, FLAGS.loop_rounds,
                                      FLAGS.loop_steps)
  for parse in FLAGS.parse:
    records = FLAGS.records_timed * (STUB_RECORDS_FACTOR if parse == 'stub' else 1)
    results['pipelines'][parse] = measure_pipelines(files, cfg, bs, parse, FLAGS.rounds, records,
                                                    FLAGS.distance_transforms, baseline)
  results['load_average_after'] = os.getloadavg()
  versions = [''] + (['_baseline'] if baseline else [])  # this pipeline's validation, the baseline's
  ratios = {}
  for parse, p in results['pipelines'].items():
    for name, t in results['trainer'].items():
      for v in versions:
        per_step = p[f'validation{v}_cpu_s_per_record'] * t['batch_size'] + t['check_s']
        record_step = t['record_step_s'].get('validated')
        ratios[f'{parse}/{name}{v}'] = {
            'validation_cpu_s_per_step': per_step, 'ratio_to_step': per_step / t['step_s'],
            'ratio_to_record_step': per_step / record_step if record_step else None}
  results['ratios'] = ratios
  parses = list(results['pipelines'])
  print(f'machine: {machine}; load average {results["load_average_before"][0]:.1f} -> '
        f'{results["load_average_after"][0]:.1f}')
  print(f'records: {files} (pipelines batched by {bs}, distance transforms: {FLAGS.distance_transforms})')
  if baseline:
    print(f'baseline: the validated pipeline of {FLAGS.baseline_pipeline}')
  print('| measurement | ' + ' | '.join(f'{p} parse' for p in parses) + ' |')
  print('|---|' + '---|' * len(parses))

  def row(label, fn):
    print(f'| {label} | ' + ' | '.join(fn(results['pipelines'][p], p) for p in parses) + ' |')

  ms = lambda x: f'{x * 1e3:.3f}'
  row('plain pipeline, CPU ms per record', lambda p, _: ms(p['cpu_s_per_record']['plain']))
  for v in versions:
    what = 'baseline\'s validation' if v else 'validation'
    row(f'validated{v} pipeline, CPU ms per record',
        lambda p, _, v=v: ms(p['cpu_s_per_record'][f'validated{v}']))
    row(f'{what}, CPU ms per record (median paired difference)',
        lambda p, _, v=v: ms(p[f'validation{v}_cpu_s_per_record']))
  for name, t in results['trainer'].items():
    row(f'step: {name} (batch {t["batch_size"]}), ms', lambda p, _, t=t: f'{t["step_s"] * 1e3:.1f}')
    row(f'trainer check per batch: {name}, ms', lambda p, _, t=t: ms(t['check_s']))
    if t['record_step_s']:
      row(f'{name} step on TFRecords (input + step), plain / validated input, ms',
          lambda p, _, t=t: ' / '.join(f'{t["record_step_s"][k] * 1e3:.1f}' for k in ('plain', 'validated')))
    for v in versions:
      what = 'baseline\'s validation' if v else 'validation'
      key = lambda parse, name=name, v=v: f'{parse}/{name}{v}'
      row(f'{what} per {name} step, CPU ms',
          lambda p, parse, key=key: ms(ratios[key(parse)]['validation_cpu_s_per_step']))
      row(f'**{what} / {name} step**', lambda p, parse, key=key: f'{ratios[key(parse)]["ratio_to_step"]:.2%}')
      if t['record_step_s']:
        row(f'{what} / {name} step on TFRecords',
            lambda p, parse, key=key: f'{ratios[key(parse)]["ratio_to_record_step"]:.2%}')
  if FLAGS.output:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, 'w') as fh:
      json.dump(results, fh, indent=1)
    print(f'wrote {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main)
