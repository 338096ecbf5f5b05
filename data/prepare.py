r"""Preprocesses VoxCeleb / EmotioNet / any folder of images and videos into TFRecord shards.

  python -m data.prepare --kind=folder --input=/path/to/media --output=/path/to/records
  python -m data.prepare --kind=voxceleb --input=vox2/mp4 --output=records/vox
  python -m data.prepare --kind=emotionet --input=emotionet/images \
      --emotionet_au_files='emotionet/lists/*.txt' --output=records/emotionet

Per item (``data.preprocess``): decode (PyAV / Pillow), dlib detection on a downscaled copy, 68 landmarks,
square crop with a margin, faces under ``--min_face_size`` dropped, 240x240 resize, lip masks and lip
contours (``--lip_source``: the MediaPipe face mesh by default, dlib's 68 points for faces it rejects or on
request); records follow ``data.schema``. VoxCeleb clips give ``--num_frames`` distinct frames spread over
the clip (one person); EmotioNet gives only neutral images; folder takes every image and video.

Runs as an Apache Beam pipeline: DirectRunner with one process per core by default; any runner through the
usual Beam pipeline options after ``--`` (e.g. ``-- --runner=FlinkRunner ...``; workers need this repository
installed, e.g. ``--setup_file``, and ``--output`` must be a folder every worker can write). Items go to
shard ``crc32(source) % num_shards`` (deterministic; records sorted by source and serialized
deterministically, so a shard's bytes depend only on its inputs); output files are written to a temporary
name and renamed.

Resuming: ``manifest.json`` records the kind, ``--input``, the settings and the schema version; a run with
other ones stops and names what differs (``--restart`` deletes the shards and starts again). Each shard's
``.json`` stats record a digest of its items (sources, file sizes): a finished shard is reused when its
items are unchanged and redone when files were added, removed or resized. Two runs on one output folder
exclude each other: each holds an ``flock`` on ``.lock`` (released when the process ends, even if killed);
the second stops at once.

Output: the progress bar, then a report (records written; files and frames dropped by reason; lip sources;
hints naming the flag that keeps the files when every file of a kind was dropped for one reason), also
written to ``report.json``. Beam, absl and worker-process logs go to ``prepare.log`` (``--nolog_to_file``:
to the terminal).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import pathlib
import shutil
import socket
import sys
import threading
import time
import zlib
from typing import Any, Iterable, Sequence

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)  # pylint: disable=g-bad-import-order
from absl import flags
from absl import logging

from data import media
from data import preprocess
from data import emotionet
from data import voxceleb
from data import face
from data import schema

KINDS = ('voxceleb', 'emotionet', 'folder')
MANIFEST = 'manifest.json'
REPORT = 'report.json'
LOG = 'prepare.log'
LOCK = '.lock'
_PROGRESS_DIR = '_progress'

FLAGS = flags.FLAGS


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
      for e in emotionet.read_emotionet_au_file(f):
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
      items.append(preprocess.WorkItem(rel, 'frames', 'voxceleb', rel, voxceleb.voxceleb_identity(rel)))
      continue
    for f in sorted(filenames):
      p = d / f
      rel = _rel(p, root)
      clip_id = pathlib.PurePosixPath(rel).with_suffix('').as_posix()
      if media.is_video(f):
        identity = voxceleb.voxceleb_identity(rel) if kind == 'voxceleb' else ''
        items.append(preprocess.WorkItem(rel, 'video', kind, clip_id, identity))
      elif media.is_image(f) and kind == 'folder':
        items.append(preprocess.WorkItem(rel, 'image', kind, clip_id))
  return sorted(items, key=lambda i: i.source)


# ---------------------------------------------------------------------------------------------- writing


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
  tmp = path.with_name(path.name + f'.tmp{os.getpid()}')
  try:
    tmp.write_bytes(data)
    os.replace(tmp, path)
  except OSError:
    tmp.unlink(missing_ok=True)
    raise


class OutputWriteError(OSError):
  """The output folder cannot be written (disk full, read-only); the finished shards are kept."""


def write_shard(output: str, prefix: str, shard: int, num_shards: int, results: Iterable[dict[str, Any]],
                inputs_digest: str = '') -> dict[str, Any]:
  """Writes one shard (records sorted by source: deterministic content) and then its .json stats.

  ``inputs_digest`` (``items_digest`` of the shard's items) is stored in the stats: a resumed run reuses the
  shard only when its items are unchanged.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = pathlib.Path(output)
  name = shard_name(prefix, shard, num_shards)
  results = sorted(results, key=lambda r: r['source'])
  tmp = out / f'{name}.tfrecord.tmp{os.getpid()}'
  n = 0
  try:
    with tf.io.TFRecordWriter(str(tmp)) as w:
      for r in results:
        for rec in r['records']:
          w.write(rec)
          n += 1
    os.replace(tmp, out / f'{name}.tfrecord')
  except (OSError, tf.errors.OpError) as e:  # full or read-only disk: reported by run(), never retried
    tmp.unlink(missing_ok=True)
    logging.error('cannot write shard %s: %s', name, e)
    return {'shard': shard, 'error': getattr(e, 'strerror', None) or str(e)}
  drops, notes = collections.Counter(), collections.Counter()
  by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  needed: dict[str, int] = {}
  for r in results:
    drops.update(r['drops'])
    notes.update(r['notes'])
    kind = r.get('kind', '')
    by_kind[kind]['items'] += 1
    by_kind[kind].update(k for k in r['drops'] if k.startswith('file/'))
    if r.get('face_size_needed'):
      needed[kind] = min(needed.get(kind, r['face_size_needed']), r['face_size_needed'])
  stats = {'shard': shard, 'num_shards': num_shards, 'file': f'{name}.tfrecord', 'records': n,
           'items': len(results), 'frames_examined': sum(r['frames_examined'] for r in results),
           'drops': dict(sorted(drops.items())), 'notes': dict(sorted(notes.items())),
           'by_kind': {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
           'face_size_needed': dict(sorted(needed.items())), 'inputs_digest': inputs_digest,
           'dropped_items': {r['source']: r['detail'] for r in results if r['detail']}}
  try:
    _write_atomic(out / f'{name}.json', json.dumps(stats, indent=1).encode())
  except OSError as e:
    logging.error('cannot write the stats of shard %s: %s', name, e)
    return {'shard': shard, 'error': e.strerror or str(e)}
  return stats


def result_to_dict(res: preprocess.Result, kind: str = '') -> dict[str, Any]:
  return {'source': res.source, 'kind': kind, 'records': res.records,
          'drops': {f'{u}/{r}': c for (u, r), c in res.drops.items()},
          'notes': dict(res.notes), 'frames_examined': res.frames_examined, 'detail': res.detail,
          'face_size_needed': res.face_size_needed}


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
    return shard_of(item['source'], self.num_shards), result_to_dict(res, item['kind'])


def _progress_monitor(progress_dir: pathlib.Path, total: int, stop: threading.Event, stream):
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  with tqdm(total=total, unit='item', desc='prepare', file=stream) as bar:
    while True:
      done = sum(p.stat().st_size for p in progress_dir.glob('*.txt'))
      bar.update(done - bar.n)
      if stop.wait(0.5):
        done = sum(p.stat().st_size for p in progress_dir.glob('*.txt'))
        bar.update(done - bar.n)
        return


# ------------------------------------------------------------------------------- one run, step by step


class OutputInUseError(RuntimeError):
  """Another run holds the output folder's lock."""


class InputsChangedError(ValueError):
  """The output folder was made from other inputs or settings than this run's."""


@contextlib.contextmanager
def output_lock(out: pathlib.Path):
  """Exclusive ``flock`` on ``out/.lock`` for the whole run: a second run on the same folder fails at once
  (the lock is released when the process ends, even when it is killed; needs a filesystem with flock)."""
  import fcntl  # pylint: disable=g-import-not-at-top
  with open(out / LOCK, 'a+') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'unknown'
      raise OutputInUseError(f'Another data.prepare run ({holder}) is writing to {out}; wait for it to '
                             'finish or choose another --output.') from None
    f.seek(0)
    f.truncate()
    f.write(f'pid {os.getpid()} on {socket.gethostname()}\n')
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def logs_to_file(path: pathlib.Path, enabled: bool = True):
  """Sends Python logging, warnings and everything written to file descriptor 2 (Beam's worker processes,
  absl, C++ libraries) to ``path``; yields a stream on the original stderr (for the progress bar)."""
  if not enabled:
    yield sys.stderr
    return
  import logging as py_logging  # pylint: disable=g-import-not-at-top
  root = py_logging.getLogger()
  saved = (root.handlers[:], root.level, py_logging.getLogger('apache_beam').level)
  sys.stderr.flush()
  saved_fd = os.dup(2)
  terminal = os.fdopen(os.dup(saved_fd), 'w', buffering=1)
  with open(path, 'a', buffering=1) as log:
    handler = py_logging.StreamHandler(log)
    handler.setFormatter(py_logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
    root.handlers[:] = [handler]
    root.setLevel(py_logging.INFO)
    py_logging.getLogger('apache_beam').setLevel(py_logging.WARNING)  # not its per-bundle INFO lines
    py_logging.captureWarnings(True)
    os.dup2(log.fileno(), 2)
    try:
      yield terminal
    finally:
      sys.stderr.flush()
      os.dup2(saved_fd, 2)
      os.close(saved_fd)
      terminal.close()
      py_logging.captureWarnings(False)
      root.handlers[:] = saved[0]
      root.setLevel(saved[1])
      py_logging.getLogger('apache_beam').setLevel(saved[2])


def items_digest(items: Sequence[preprocess.WorkItem], input_root: str) -> str:
  """sha256 of the items (source, kind, drop reason) and their file sizes: what a shard was made from.
  (A file rewritten in place with the same size is not noticed.)"""
  h = hashlib.sha256()
  for i in sorted(items, key=lambda i: i.source):
    p = pathlib.Path(input_root) / i.source
    try:
      size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.iterdir() if f.is_file())
    except OSError:
      size = -1
    h.update(f'{i.source}\0{i.kind}\0{i.drop_reason}\0{size}\n'.encode())
  return h.hexdigest()


def _check_manifest(out: pathlib.Path, manifest: dict[str, Any], restart: bool) -> int:
  """The number of shards of a run being resumed (0 for a new folder). Settings that differ from the
  folder's manifest raise ``InputsChangedError`` naming them, or, with ``restart``, delete its shards."""
  path = out / MANIFEST
  if not path.exists():
    return 0
  old = json.loads(path.read_text())
  changed = [f'{k}: {old.get(k)!r} -> {manifest[k]!r}' for k in ('kind', 'input', 'schema_version')
             if old.get(k) != manifest[k]]
  old_cfg = old.get('config', {})
  changed += [f'config.{k}: {old_cfg.get(k)!r} -> {v!r}' for k, v in manifest['config'].items()
              if old_cfg.get(k) != v]
  if not changed:
    return int(old['num_shards'])
  if not restart:
    raise InputsChangedError(
        f'{out} holds shards made with other settings ({"; ".join(changed)}). Use another --output, or '
        '--restart to delete its shards and start again.')
  logging.warning('--restart: deleting the shards of %s (%s).', out, '; '.join(changed))
  for p in list(out.glob('*.tfrecord')) + list(out.glob('*-of-*.json')) + [path]:
    p.unlink()
  return 0


def _plan_shards(out: pathlib.Path, kind: str, items, input_root: str, num_shards: int
                 ) -> tuple[dict[int, str], set[int], set[int]]:
  """Per shard the digest of its items; the shards finished from the same items (reused) and the shards
  whose stats exist but were made from other items (redone)."""
  by_shard: dict[int, list] = collections.defaultdict(list)
  for i in items:
    by_shard[shard_of(i.source, num_shards)].append(i)
  digests = {s: items_digest(by_shard.get(s, []), input_root) for s in range(num_shards)}
  finished, stale = set(), set()
  for s in range(num_shards):
    path = out / f'{shard_name(kind, s, num_shards)}.json'
    if path.exists():
      (finished if json.loads(path.read_text()).get('inputs_digest') == digests[s] else stale).add(s)
  if stale:
    logging.warning('Inputs of %d finished shard(s) changed (files added, removed or resized): redoing '
                    'shards %s.', len(stale), sorted(stale))
  return digests, finished, stale


def _beam_options(beam_args: Sequence[str], runner: str, direct_num_workers: int, direct_running_mode: str):
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  if any(a.startswith('--runner') for a in beam_args):  # a --runner among the Beam arguments wins
    runner = ''
  opts = {'runner': runner} if runner else {}
  if runner == 'DirectRunner':
    opts.update(direct_num_workers=direct_num_workers or (os.cpu_count() or 1),
                direct_running_mode=direct_running_mode)
  if not any(a.startswith('--default_sdk_harness_log_level') for a in beam_args):
    opts['default_sdk_harness_log_level'] = 'WARNING'  # workers' per-bundle INFO lines
  # Worker processes must import this repository's packages.
  repo = str(pathlib.Path(__file__).resolve().parent.parent)
  os.environ['PYTHONPATH'] = os.pathsep.join(
      [repo] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p and p != repo])
  return PipelineOptions(list(beam_args), **opts)


def _run_pipeline(out: pathlib.Path, kind: str, todo, input_root: str, cfg: preprocess.Config,
                  num_shards: int, digests: dict[int, str], options, progress_stream) -> None:
  """Processes ``todo`` with Beam and writes their shards; a progress bar on ``progress_stream``."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  progress_dir = out / _PROGRESS_DIR
  progress_dir.mkdir(exist_ok=True)
  for p in progress_dir.glob('*.txt'):
    p.unlink()
  stop = threading.Event()
  monitor = None
  if progress_stream is not None:
    monitor = threading.Thread(target=_progress_monitor, args=(progress_dir, len(todo), stop,
                                                              progress_stream), daemon=True)
    monitor.start()
  fn = _ProcessFn(str(input_root), dataclasses.asdict(cfg), num_shards, str(progress_dir))
  try:
    with beam.Pipeline(options=options) as p:
      _ = (p
           | 'Items' >> beam.Create([i.to_dict() for i in todo])
           | 'Spread' >> beam.Reshuffle()
           | 'Process' >> beam.Map(fn)
           | 'ByShard' >> beam.GroupByKey()
           | 'Write' >> beam.MapTuple(
               lambda s, rs: write_shard(str(out), kind, s, num_shards, rs, digests[s])))
  finally:
    stop.set()
    if monitor:
      monitor.join()
    shutil.rmtree(progress_dir, ignore_errors=True)


def run(kind: str, input_root: str, output: str, cfg: preprocess.Config | None = None,
        num_shards: int = 0, items_per_shard: int = 200, max_items: int = 0,
        au_files: str | None = None, runner: str = 'DirectRunner', direct_num_workers: int = 0,
        direct_running_mode: str = 'multi_processing', beam_args: Sequence[str] = (),
        progress: bool = True, restart: bool = False, log_to_file: bool = True,
        shards_per_wave: int = 0) -> dict[str, Any]:
  """Runs the preprocessing pipeline; returns the report (also written to ``output/report.json``).

  Steps: lock the output folder; list the items; check them against the folder's manifest (other settings:
  ``InputsChangedError``, or with ``restart`` start again); reuse the shards finished from the same items,
  redo the others; write the report. Logs and warnings go to ``output/prepare.log`` (``log_to_file``).
  The shards to do are processed in waves of ``shards_per_wave`` (0: twice the workers), one Beam pipeline
  each, so every wave's shards are on disk when the next starts (an interruption loses one wave at most).

  Raises:
    OutputInUseError: another run holds the folder.
    InputsChangedError: the folder was made with other settings (and ``restart`` is False).
    OutputWriteError: a shard or a file of the folder could not be written (disk full, read-only); the
      shards finished before are kept, a rerun with space resumes.
  """
  cfg = cfg or preprocess.Config()
  items = list_items(kind, input_root, au_files)[:max_items or None]  # (bad --input: no output folder made)
  out = pathlib.Path(output)
  if out.exists() and not out.is_dir():
    raise OutputWriteError(f'--output {out} is a file, not a folder; pass a folder.')
  try:
    out.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise OutputWriteError(f'cannot create the output folder {out} ({e.strerror}).') from None
  with output_lock(out), logs_to_file(out / LOG, log_to_file) as terminal:
    for stale in out.glob('*.tmp[0-9]*'):  # files of a run that was killed while writing
      stale.unlink(missing_ok=True)
    manifest = {'kind': kind, 'input': str(pathlib.Path(input_root).resolve()), 'items': len(items),
                'config': dataclasses.asdict(cfg), 'schema_version': schema.SCHEMA_VERSION}
    num_shards = _check_manifest(out, manifest, restart) or num_shards or max(
        1, -(-len(items) // max(1, items_per_shard)))
    manifest['num_shards'] = num_shards
    _write_atomic(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    digests, finished, stale = _plan_shards(out, kind, items, input_root, num_shards)
    todo = [i for i in items if shard_of(i.source, num_shards) not in finished]
    todo_shards = {shard_of(i.source, num_shards) for i in todo}
    for s in set(range(num_shards)) - finished - todo_shards:  # empty shards exist too (fixed file set)
      write_shard(str(out), kind, s, num_shards, [], digests[s])
    logging.info('%d items, %d shards (%d finished before, %d redone), %d items to process.', len(items),
                 num_shards, len(finished), len(stale), len(todo))
    t0 = time.time()
    if todo:
      options = _beam_options(beam_args, runner, direct_num_workers, direct_running_mode)
      per_wave = shards_per_wave or 2 * max(1, direct_num_workers or (os.cpu_count() or 1))
      order = sorted(todo_shards)
      waves = [set(order[k:k + per_wave]) for k in range(0, len(order), per_wave)]
      for k, wave in enumerate(waves):
        for s in wave & stale:  # redone: its old stats must not pass for this run's
          (out / f'{shard_name(kind, s, num_shards)}.json').unlink(missing_ok=True)
        logging.info('wave %d/%d: shards %s', k + 1, len(waves), sorted(wave))
        _run_pipeline(out, kind, [i for i in todo if shard_of(i.source, num_shards) in wave], input_root, cfg,
                      num_shards, digests, options, terminal if progress else None)
        failed = [s for s in sorted(wave) if not (out / f'{shard_name(kind, s, num_shards)}.json').exists()]
        if failed:
          free = shutil.disk_usage(out).free
          raise OutputWriteError(
              f'{len(failed)} shard(s) could not be written to {out} (shards {failed[:10]}; {free} bytes '
              f'free; details in {out / LOG}). The {len(order) - sum(len(w) for w in waves[k:])} shard(s) of '
              'the waves before are kept: free space (or fix the folder), then rerun the same command to '
              'resume.')
    report = build_report(out, kind, num_shards, skipped=len(finished), seconds=time.time() - t0,
                          redone=len(stale), cfg=cfg)
    _write_atomic(out / REPORT, json.dumps(report, indent=1).encode())
  return report


# ------------------------------------------------------------------------------------------------ report

# Flags that keep the files dropped for a reason (see ``hints``).
_HINTS = {
    preprocess.FACE_TOO_SMALL: lambda needed, cfg: (
        f'--min_face_size={max(1, needed // 10 * 10)} (their faces are up to {needed} px; the default '
        f'{face.DEFAULT_MIN_FACE_SIZE} is the paper\'s: smaller faces give upsampled crops)'
        if needed else f'--min_face_size lower than {cfg.min_face_size}'),
    preprocess.TOO_FEW_FRAMES: lambda needed, cfg: (
        f'--min_frames lower than {cfg.min_frames or cfg.num_frames}, or --candidates_per_segment higher '
        f'than {cfg.candidates_per_segment}'),
    preprocess.NO_FACE: lambda needed, cfg: f'--detect_max_side higher than {cfg.detect_max_side} (small '
                                            'faces in large frames)',
}


def hints(by_kind: dict[str, dict[str, int]], needed: dict[str, int], cfg: preprocess.Config) -> list[str]:
  """One hint per kind of input (image / video / frames) whose every file was dropped for one reason that
  a flag changes."""
  out = []
  for kind, counts in sorted(by_kind.items()):
    reasons = {k.split('/', 1)[1]: v for k, v in counts.items() if k.startswith('file/')}
    if len(reasons) == 1 and sum(reasons.values()) == counts.get('items', 0):
      (reason,) = reasons
      if reason in _HINTS:
        out.append(f'every {kind} file ({counts["items"]}) was dropped as {reason}: try '
                   f'{_HINTS[reason](needed.get(kind, 0), cfg)}')
  return out


def build_report(output: pathlib.Path, prefix: str, num_shards: int, skipped: int = 0,
                 seconds: float = 0.0, redone: int = 0, cfg: preprocess.Config | None = None
                 ) -> dict[str, Any]:
  """Sums the shards' stats: records, items, drops split into files and frames by reason, lip sources."""
  totals = collections.Counter()
  drops, notes, dropped = collections.Counter(), collections.Counter(), {}
  by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  needed: dict[str, int] = {}
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
    for k, v in st.get('by_kind', {}).items():
      by_kind[k].update(v)
    for k, v in st.get('face_size_needed', {}).items():
      needed[k] = min(needed.get(k, v), v)
  files = {k.split('/', 1)[1]: v for k, v in sorted(drops.items()) if k.startswith('file/')}
  frames = {k.split('/', 1)[1]: v for k, v in sorted(drops.items()) if k.startswith('frame/')}
  lips_prefix = preprocess.LIPS_NOTE_PREFIX
  lip_sources = {k[len(lips_prefix):]: v for k, v in sorted(notes.items()) if k.startswith(lips_prefix)}
  conversions = {k: v for k, v in sorted(notes.items()) if not k.startswith(lips_prefix)}
  return {'records': totals['records'], 'items': totals['items'],
          'frames_examined': totals['frames_examined'], 'files_dropped': files, 'frames_dropped': frames,
          'conversions': conversions, 'lip_sources': lip_sources, 'num_shards': num_shards,
          'shards_skipped_as_finished': skipped, 'shards_redone_inputs_changed': redone,
          'shards_missing': missing, 'seconds': round(seconds, 2),
          'hints': hints(by_kind, needed, cfg or preprocess.Config()),
          'dropped_items': dict(sorted(dropped.items()))}


def format_report(report: dict[str, Any]) -> str:
  lines = [f"records written: {report['records']}  (items {report['items']}, frames examined "
           f"{report['frames_examined']}, shards {report['num_shards']}, skipped as finished "
           f"{report['shards_skipped_as_finished']}, redone {report.get('shards_redone_inputs_changed', 0)}, "
           f"{report['seconds']} s)"]
  for title, key in (('files dropped', 'files_dropped'), ('frames dropped', 'frames_dropped'),
                     ('conversions (kept)', 'conversions'),
                     ('lips of written frames (dlib_fallback: mesh score too low)', 'lip_sources')):
    lines.append(f'{title}: ' + (', '.join(f'{k} {v}' for k, v in report.get(key, {}).items()) or 'none'))
  lines += [f'hint: {h}' for h in report.get('hints', [])]
  return '\n'.join(lines)


def _fail(message: str) -> None:
  """One line on stderr and exit status 2 (no usage dump: ``--help`` lists the flags)."""
  print(f'data.prepare: error: {message}', file=sys.stderr)
  sys.exit(2)


def main(argv: Sequence[str]) -> None:
  if not FLAGS.input or not FLAGS.output:
    _fail('--input and --output are required (--help lists the flags).')
  cfg = preprocess.Config(num_frames=FLAGS.num_frames, min_frames=FLAGS.min_frames,
                          candidates_per_segment=FLAGS.candidates_per_segment,
                          min_face_size=FLAGS.min_face_size, margin=FLAGS.margin,
                          detect_max_side=FLAGS.detect_max_side, lip_source=FLAGS.lip_source,
                          min_mesh_score=FLAGS.min_mesh_score)
  try:
    report = run(FLAGS.kind, FLAGS.input, FLAGS.output, cfg, num_shards=FLAGS.num_shards,
                 items_per_shard=FLAGS.items_per_shard, max_items=FLAGS.max_items,
                 au_files=FLAGS.emotionet_au_files, direct_num_workers=FLAGS.direct_num_workers,
                 direct_running_mode=FLAGS.direct_running_mode, beam_args=argv[1:], progress=FLAGS.progress,
                 restart=FLAGS.restart, log_to_file=FLAGS.log_to_file, shards_per_wave=FLAGS.shards_per_wave)
  except (OutputInUseError, InputsChangedError, FileNotFoundError, NotADirectoryError, ValueError) as e:
    _fail(str(e))
  except OSError as e:  # OutputWriteError, and a full or read-only disk met by this process
    _fail(str(e) if isinstance(e, OutputWriteError) else
          f'cannot write to --output {FLAGS.output} ({e.strerror or e}); free space or fix the folder, then '
          'rerun the same command to resume.')
  print(format_report(report))
  if FLAGS.log_to_file:
    print(f'log: {pathlib.Path(FLAGS.output) / LOG}')


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program: importing the module defines none)."""
  d = preprocess.Config()
  flags.DEFINE_enum('kind', 'folder', KINDS, 'Input layout: voxceleb (mp4 tree or frame folders; identity '
                    'from the id1xxxx path component), emotionet (images + AU lists, neutral only) or folder '
                    '(every image and video under --input).')
  flags.DEFINE_string('input', None, 'Input root folder.')
  flags.DEFINE_string('output', None, 'Output folder: TFRecord shards, their .json stats, manifest, report '
                      'and log.')
  flags.DEFINE_string('emotionet_au_files', None,
                      'Glob of EmotioNet AU lists (default: --input/*.txt, *.csv).')
  flags.DEFINE_integer('num_frames', d.num_frames, 'N_f: frames per video clip.')
  flags.DEFINE_integer('min_frames', 0, 'Clips with fewer distinct usable frames are dropped '
                       '(0: --num_frames).')
  flags.DEFINE_integer('candidates_per_segment', d.candidates_per_segment,
                       'Frames examined per clip segment (the clip is cut into --num_frames segments; more '
                       'candidates survive more cut-aways, each costs a detection and a descriptor).')
  flags.DEFINE_integer('min_face_size', d.min_face_size,
                       'Faces whose crop square is smaller (source pixels) are dropped.')
  flags.DEFINE_float('margin', d.margin, 'Crop margin on each side, as a fraction of the landmark extent.')
  flags.DEFINE_integer('detect_max_side', d.detect_max_side,
                       'The detector sees a copy downscaled to at most this side.')
  flags.DEFINE_integer('num_shards', 0, 'Number of output shards (0: ceil(items / --items_per_shard)). '
                       'A resumed run keeps the number of its manifest.')
  flags.DEFINE_integer('items_per_shard', 200, 'Items per shard when --num_shards is 0.')
  flags.DEFINE_integer('max_items', 0, 'Process only the first N items (sorted), 0 = all.')
  flags.DEFINE_integer('shards_per_wave', 0, 'Shards per Beam pipeline run; each wave\'s shards are written '
                       'before the next starts (0: twice the workers).')
  flags.DEFINE_integer('direct_num_workers', 0, 'DirectRunner worker processes (0: one per core).')
  flags.DEFINE_enum('direct_running_mode', 'multi_processing', ['in_memory', 'multi_threading',
                                                                'multi_processing'], 'DirectRunner mode.')
  flags.DEFINE_bool('progress', True, 'Show a progress bar.')
  flags.DEFINE_enum('lip_source', d.lip_source, list(preprocess.LIP_SOURCES),
                    'What draws the lip masks and contours: the MediaPipe face mesh (dense lip contours; '
                    'faces it rejects fall back to dlib) or the 68 dlib landmarks.')
  flags.DEFINE_float('min_mesh_score', d.min_mesh_score,
                     'Faces whose MediaPipe face score is lower get dlib lips.')
  flags.DEFINE_bool('restart', False, 'Delete the shards of --output when they were made with other '
                    'settings (otherwise such a run stops and says what differs).')
  flags.DEFINE_bool('log_to_file', True, 'Beam/absl logs and warnings go to --output/prepare.log instead of '
                    'the terminal.')

if __name__ == '__main__':
  _define_flags()
  cli.run(main)
