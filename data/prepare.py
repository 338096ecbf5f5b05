r"""Preprocesses VoxCeleb / EmotioNet / any folder of images and videos into TFRecord shards.

  python -m data.prepare --kind=folder --input=/path/to/media --output=/path/to/records
  python -m data.prepare --kind=voxceleb --input=vox2/mp4 --output=records/vox
  python -m data.prepare --kind=emotionet --input=emotionet/images \
      --emotionet_au_files='emotionet/lists/*.txt' --output=records/emotionet

Per item (``data.preprocess``): decode (PyAV / Pillow), dlib detection on a downscaled copy, 68 landmarks,
square crop with a margin, faces under ``--min_face_size`` dropped, 240x240 resize, lip masks and lip
contours; records follow ``data.schema``. VoxCeleb clips give ``--num_frames`` frames spread over the clip
(one person); EmotioNet gives only neutral images; folder takes every image and video.

Runs as an Apache Beam pipeline: DirectRunner with one process per core by default; any runner through the
usual Beam pipeline options after ``--`` (e.g. ``-- --runner=FlinkRunner ...``; workers need this repository
installed, e.g. ``--setup_file``, and ``--output`` must be a folder every worker can write). Items go to
shard ``crc32(source) % num_shards`` (deterministic); a shard whose ``.json`` stats file exists is finished
and skipped on the next run (resumable); output files are written to a temporary name and renamed. The run
ends with a report (records written; files and frames dropped by reason), also written to ``report.json``.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import pathlib
import shutil
import sys
import threading
import time
import zlib
from typing import Any, Iterable, Sequence

from absl import app
from absl import flags
from absl import logging

from data import media
from data import preprocess
from data import readers
from data import face
from data import schema

KINDS = ('voxceleb', 'emotionet', 'folder')
MANIFEST = 'manifest.json'
REPORT = 'report.json'
_PROGRESS_DIR = '_progress'

FLAGS = flags.FLAGS
flags.DEFINE_enum('kind', 'folder', KINDS, 'Input layout: voxceleb (mp4 tree or frame folders; identity '
                  'from the id1xxxx path component), emotionet (images + AU lists, neutral only) or folder '
                  '(every image and video under --input).')
flags.DEFINE_string('input', None, 'Input root folder.')
flags.DEFINE_string('output', None, 'Output folder: TFRecord shards, their .json stats, manifest and report.')
flags.DEFINE_string('emotionet_au_files', None, 'Glob of EmotioNet AU lists (default: --input/*.txt, *.csv).')
flags.DEFINE_integer('num_frames', 4, 'N_f: frames per video clip.')
flags.DEFINE_integer('min_frames', 0, 'Clips with fewer usable frames are dropped (0: --num_frames).')
flags.DEFINE_integer('candidates_per_segment', 3, 'Frames examined per clip segment (the clip is cut into '
                     '--num_frames segments; more candidates survive more cut-aways, each costs a detection '
                     'and a descriptor).')
flags.DEFINE_integer('min_face_size', face.DEFAULT_MIN_FACE_SIZE,
                     'Faces whose crop square is smaller (source pixels) are dropped.')
flags.DEFINE_float('margin', 0.3, 'Crop margin on each side, as a fraction of the landmark extent.')
flags.DEFINE_integer('detect_max_side', 800, 'The detector sees a copy downscaled to at most this side.')
flags.DEFINE_integer('num_shards', 0, 'Number of output shards (0: ceil(items / --items_per_shard)). '
                     'A resumed run keeps the number of its manifest.')
flags.DEFINE_integer('items_per_shard', 200, 'Items per shard when --num_shards is 0.')
flags.DEFINE_integer('max_items', 0, 'Process only the first N items (sorted), 0 = all.')
flags.DEFINE_integer('direct_num_workers', 0, 'DirectRunner worker processes (0: one per core).')
flags.DEFINE_enum('direct_running_mode', 'multi_processing', ['in_memory', 'multi_threading',
                                                              'multi_processing'], 'DirectRunner mode.')
flags.DEFINE_bool('progress', True, 'Show a progress bar.')


def shard_of(source: str, num_shards: int) -> int:
  """Deterministic shard of an item (independent of listing order and of the machine)."""
  return zlib.crc32(source.encode('utf-8')) % num_shards


def shard_name(prefix: str, shard: int, num_shards: int) -> str:
  return f'{prefix}-{shard:05d}-of-{num_shards:05d}'


# ------------------------------------------------------------------------------------------------ listing


def _rel(path: pathlib.Path, root: pathlib.Path) -> str:
  return path.relative_to(root).as_posix()


def list_items(kind: str, input_root: str | os.PathLike, au_files: str | None = None
               ) -> list[preprocess.WorkItem]:
  """The work items of an input tree, sorted by source path."""
  root = pathlib.Path(input_root)
  if not root.is_dir():
    raise FileNotFoundError(f'Input folder {root} does not exist.')
  items = []
  if kind == 'emotionet':
    pattern = au_files or str(root / '*.txt')
    files = sorted(glob.glob(pattern)) + ([] if au_files else sorted(glob.glob(str(root / '*.csv'))))
    if not files:
      raise FileNotFoundError(f'No EmotioNet AU list files match {pattern}.')
    seen = set()
    for f in files:
      for e in readers.read_emotionet_au_file(f):
        rel = e.relative_path()
        if rel in seen:
          continue
        seen.add(rel)
        items.append(preprocess.WorkItem(
            source=rel, kind='image', dataset='emotionet', clip_id=pathlib.PurePosixPath(rel).stem,
            is_neutral=int(e.is_neutral), drop_reason='' if e.is_neutral else preprocess.NOT_NEUTRAL))
    return sorted(items, key=lambda i: i.source)
  frame_dirs = set()
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    d = pathlib.Path(dirpath)
    images = [f for f in filenames if media.is_image(f)]
    # VoxCeleb FOMM-style clips are folders of frame images (and nothing else).
    if kind == 'voxceleb' and images and not dirnames and d != root:
      frame_dirs.add(d)
      rel = _rel(d, root)
      items.append(preprocess.WorkItem(rel, 'frames', 'voxceleb', rel, readers.voxceleb_identity(rel)))
      continue
    for f in sorted(filenames):
      p = d / f
      rel = _rel(p, root)
      clip_id = pathlib.PurePosixPath(rel).with_suffix('').as_posix()
      if media.is_video(f):
        identity = readers.voxceleb_identity(rel) if kind == 'voxceleb' else ''
        items.append(preprocess.WorkItem(rel, 'video', kind, clip_id, identity))
      elif media.is_image(f) and kind == 'folder':
        items.append(preprocess.WorkItem(rel, 'image', kind, clip_id))
  return sorted(items, key=lambda i: i.source)


# ---------------------------------------------------------------------------------------------- writing


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
  tmp = path.with_name(path.name + f'.tmp{os.getpid()}')
  tmp.write_bytes(data)
  os.replace(tmp, path)


def write_shard(output: str, prefix: str, shard: int, num_shards: int,
                results: Iterable[dict[str, Any]]) -> dict[str, Any]:
  """Writes one shard (records sorted by source: deterministic content) and then its .json stats."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = pathlib.Path(output)
  name = shard_name(prefix, shard, num_shards)
  results = sorted(results, key=lambda r: r['source'])
  tmp = out / f'{name}.tfrecord.tmp{os.getpid()}'
  n = 0
  with tf.io.TFRecordWriter(str(tmp)) as w:
    for r in results:
      for rec in r['records']:
        w.write(rec)
        n += 1
  os.replace(tmp, out / f'{name}.tfrecord')
  drops, notes = collections.Counter(), collections.Counter()
  for r in results:
    drops.update(r['drops'])
    notes.update(r['notes'])
  stats = {'shard': shard, 'num_shards': num_shards, 'file': f'{name}.tfrecord', 'records': n,
           'items': len(results), 'frames_examined': sum(r['frames_examined'] for r in results),
           'drops': dict(sorted(drops.items())), 'notes': dict(sorted(notes.items())),
           'dropped_items': {r['source']: r['detail'] for r in results if r['detail']}}
  _write_atomic(out / f'{name}.json', json.dumps(stats, indent=1).encode())
  return stats


def result_to_dict(res: preprocess.Result) -> dict[str, Any]:
  return {'source': res.source, 'records': res.records,
          'drops': {f'{u}/{r}': c for (u, r), c in res.drops.items()},
          'notes': dict(res.notes), 'frames_examined': res.frames_examined, 'detail': res.detail}


class _ProcessFn:
  """Beam DoFn body: one analyzer (dlib models) per worker; appends to a per-process progress file."""

  def __init__(self, input_root: str, cfg: dict[str, Any], num_shards: int, progress_dir: str | None):
    self.input_root = input_root
    self.cfg = cfg
    self.num_shards = num_shards
    self.progress_dir = progress_dir
    self._analyzer = None

  def __call__(self, item: dict[str, Any]):
    cfg = preprocess.Config(**self.cfg)
    if self._analyzer is None:
      self._analyzer = cfg.analyzer()
    res = preprocess.process_item(item, self.input_root, cfg, self._analyzer)
    if self.progress_dir:
      try:
        with open(os.path.join(self.progress_dir, f'{os.getpid()}.txt'), 'a') as f:
          f.write('.')
      except OSError:
        pass  # a remote runner may not see the folder: no progress bar then
    return shard_of(item['source'], self.num_shards), result_to_dict(res)


def _progress_monitor(progress_dir: pathlib.Path, total: int, stop: threading.Event):
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  with tqdm(total=total, unit='item', desc='prepare', file=sys.stderr) as bar:
    while True:
      done = sum(p.stat().st_size for p in progress_dir.glob('*.txt'))
      bar.update(done - bar.n)
      if stop.wait(0.5):
        done = sum(p.stat().st_size for p in progress_dir.glob('*.txt'))
        bar.update(done - bar.n)
        return


def run(kind: str, input_root: str, output: str, cfg: preprocess.Config | None = None,
        num_shards: int = 0, items_per_shard: int = 200, max_items: int = 0,
        au_files: str | None = None, runner: str = 'DirectRunner', direct_num_workers: int = 0,
        direct_running_mode: str = 'multi_processing', beam_args: Sequence[str] = (),
        progress: bool = True) -> dict[str, Any]:
  """Runs the preprocessing pipeline; returns the report (also written to ``output/report.json``)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top

  import logging as py_logging  # pylint: disable=g-import-not-at-top
  for name in ('apache_beam', 'root'):  # Beam's per-bundle INFO lines drown the progress bar
    py_logging.getLogger(None if name == 'root' else name).setLevel(py_logging.WARNING)
  cfg = cfg or preprocess.Config()
  out = pathlib.Path(output)
  out.mkdir(parents=True, exist_ok=True)
  items = list_items(kind, input_root, au_files)
  if max_items:
    items = items[:max_items]
  manifest_path = out / MANIFEST
  manifest = {'kind': kind, 'input': str(pathlib.Path(input_root).resolve()), 'items': len(items),
              'config': dataclasses.asdict(cfg), 'schema_version': schema.SCHEMA_VERSION}
  if manifest_path.exists():
    old = json.loads(manifest_path.read_text())
    num_shards = old['num_shards']  # keep the sharding of the run being resumed
    if old.get('config') != manifest['config'] or old.get('kind') != kind:
      logging.warning('Resuming %s with a different configuration than its manifest.', out)
  elif not num_shards:
    num_shards = max(1, -(-len(items) // max(1, items_per_shard)))
  manifest['num_shards'] = num_shards
  _write_atomic(manifest_path, json.dumps(manifest, indent=1).encode())

  finished = {s for s in range(num_shards) if (out / f'{shard_name(kind, s, num_shards)}.json').exists()}
  todo = [i for i in items if shard_of(i.source, num_shards) not in finished]
  todo_shards = {shard_of(i.source, num_shards) for i in todo}
  for s in range(num_shards):  # shards without items still exist (deterministic file set)
    if s not in finished and s not in todo_shards:
      write_shard(str(out), kind, s, num_shards, [])
  logging.info('%d items, %d shards (%d finished before), %d items to process.', len(items), num_shards,
               len(finished), len(todo))
  t0 = time.time()
  if todo:
    progress_dir = out / _PROGRESS_DIR
    progress_dir.mkdir(exist_ok=True)
    for p in progress_dir.glob('*.txt'):
      p.unlink()
    stop = threading.Event()
    monitor = None
    if progress:
      monitor = threading.Thread(target=_progress_monitor, args=(progress_dir, len(todo), stop), daemon=True)
      monitor.start()
    # A --runner among the Beam arguments wins over the default DirectRunner.
    if any(a.startswith('--runner') for a in beam_args):
      runner = ''
    opts = {'runner': runner} if runner else {}
    if runner == 'DirectRunner':
      opts.update(direct_num_workers=direct_num_workers or (os.cpu_count() or 1),
                  direct_running_mode=direct_running_mode)
    if not any(a.startswith('--default_sdk_harness_log_level') for a in beam_args):
      opts['default_sdk_harness_log_level'] = 'WARNING'  # workers' per-bundle INFO lines
    # Worker processes must import this repository's packages.
    repo = str(pathlib.Path(__file__).resolve().parent.parent)
    os.environ['PYTHONPATH'] = os.pathsep.join([repo] + [p for p in os.environ.get('PYTHONPATH', '').split(
        os.pathsep) if p])
    options = PipelineOptions(list(beam_args), **opts)
    fn = _ProcessFn(str(input_root), dataclasses.asdict(cfg), num_shards, str(progress_dir))
    try:
      with beam.Pipeline(options=options) as p:
        _ = (p
             | 'Items' >> beam.Create([i.to_dict() for i in todo])
             | 'Spread' >> beam.Reshuffle()
             | 'Process' >> beam.Map(fn)
             | 'ByShard' >> beam.GroupByKey()
             | 'Write' >> beam.MapTuple(lambda s, rs: write_shard(str(out), kind, s, num_shards, rs)))
    finally:
      stop.set()
      if monitor:
        monitor.join()
      shutil.rmtree(progress_dir, ignore_errors=True)
  report = build_report(out, kind, num_shards, skipped=len(finished), seconds=time.time() - t0)
  _write_atomic(out / REPORT, json.dumps(report, indent=1).encode())
  return report


def build_report(output: pathlib.Path, prefix: str, num_shards: int, skipped: int = 0,
                 seconds: float = 0.0) -> dict[str, Any]:
  """Sums the shards' stats: records, items, drops split into files and frames by reason."""
  totals = collections.Counter()
  drops, notes, dropped = collections.Counter(), collections.Counter(), {}
  missing = []
  for s in range(num_shards):
    path = output / f'{shard_name(prefix, s, num_shards)}.json'
    if not path.exists():
      missing.append(s)
      continue
    st = json.loads(path.read_text())
    totals.update(records=st['records'], items=st['items'], frames_examined=st['frames_examined'])
    drops.update(st['drops'])
    notes.update(st['notes'])
    dropped.update(st.get('dropped_items', {}))
  files = {k.split('/', 1)[1]: v for k, v in sorted(drops.items()) if k.startswith('file/')}
  frames = {k.split('/', 1)[1]: v for k, v in sorted(drops.items()) if k.startswith('frame/')}
  return {'records': totals['records'], 'items': totals['items'],
          'frames_examined': totals['frames_examined'], 'files_dropped': files, 'frames_dropped': frames,
          'conversions': dict(sorted(notes.items())), 'num_shards': num_shards,
          'shards_skipped_as_finished': skipped, 'shards_missing': missing, 'seconds': round(seconds, 2),
          'dropped_items': dict(sorted(dropped.items()))}


def format_report(report: dict[str, Any]) -> str:
  lines = [f"records written: {report['records']}  (items {report['items']}, frames examined "
           f"{report['frames_examined']}, shards {report['num_shards']}, skipped as finished "
           f"{report['shards_skipped_as_finished']}, {report['seconds']} s)"]
  for title, key in (('files dropped', 'files_dropped'), ('frames dropped', 'frames_dropped'),
                     ('conversions (kept)', 'conversions')):
    lines.append(f'{title}: ' + (', '.join(f'{k} {v}' for k, v in report[key].items()) or 'none'))
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if not FLAGS.input or not FLAGS.output:
    raise app.UsageError('--input and --output are required.')
  cfg = preprocess.Config(num_frames=FLAGS.num_frames, min_frames=FLAGS.min_frames,
                          candidates_per_segment=FLAGS.candidates_per_segment,
                          min_face_size=FLAGS.min_face_size, margin=FLAGS.margin,
                          detect_max_side=FLAGS.detect_max_side)
  report = run(FLAGS.kind, FLAGS.input, FLAGS.output, cfg, num_shards=FLAGS.num_shards,
               items_per_shard=FLAGS.items_per_shard, max_items=FLAGS.max_items,
               au_files=FLAGS.emotionet_au_files, direct_num_workers=FLAGS.direct_num_workers,
               direct_running_mode=FLAGS.direct_running_mode, beam_args=argv[1:], progress=FLAGS.progress)
  print(format_report(report))


if __name__ == '__main__':
  app.run(main)
