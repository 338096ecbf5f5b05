"""tf.data input pipelines over ``data.schema`` TFRecords.

Element structure (the one place it is defined; ``element_spec()`` returns it as ``tf.TensorSpec``s).
With ``batch_size=B`` every tensor gets a leading batch dimension ``B``; ``batch_size=None`` leaves it out.
``F = num_frames`` (N_f, 4 by default), ``S = 240``:

=================  =========  ================  =======================================================
key                dtype      shape             meaning
=================  =========  ================  =======================================================
``image``          float32    [B, F, S, S, 3]   RGB crops in [0, 1]
``landmarks``      float32    [B, F, 68, 2]     68 iBUG landmarks, (x, y) pixels, (i, j) = centre of
                                                pixel column i / row j, row 0 the top row
``lip_masks``      float32    [B, F, S, S, 2]   {0, 1} masks: channel 0 upper lip, 1 lower lip
``lip_distance``   float32    [B, F, S, S, 4]   distance (pixels) of every pixel centre to the lip
                                                contours, channels in ``schema.LIP_CONTOURS`` order
                                                (upper_outer, upper_inner, lower_outer, lower_inner);
                                                zeros when ``distance_transforms='none'``
``lip_contours``   float32    [B, F, 4, P, 2]   the contour polylines, P = ``schema.MAX_CONTOUR_POINTS``
                                                (32), padded by repeating the last point (padding
                                                adds zero-length segments: min distances unchanged)
``lip_contour_lengths`` int32 [B, F, 4]         valid points per polyline (0: no contour)
``is_neutral``     bool       [B]               neutral expression (EmotioNet neutral subset, synthetic
                                                neutral samples); False when unknown
``is_video``       bool       [B]               frames from one video clip (False: one image repeated)
``frame_index``    int64      [B, F]            frame indices in the source video
``dataset``        string     [B]               'voxceleb' | 'emotionet' | 'folder' | 'synthetic'
``clip_id``        string     [B]               the record's clip id
=================  =========  ================  =======================================================

Distance transforms (``distance_transforms=``): 'fast' (default) draws each polyline and runs OpenCV's
precise Euclidean distance transform (within ~1 px, mean ~0.3 px, of exact; a few ms per sample);
'exact' computes point-to-segment distances in TensorFlow (exact, ~1 s per sample on a CPU core);
'none' skips them (zeros).

Frames: a record with ``F_r >= F`` frames gives ``F`` of them spread evenly; fewer are repeated
cyclically, so a single image (EmotioNet) is repeated ``F`` times as in the paper.

Bad records (``skip_bad_records=N``, what training uses): a record that cannot be read, parsed or decoded
(random bytes, a truncated or corrupt file, missing keys, a tensor of the wrong length, an undecodable
image, another schema version) is dropped inside the pipeline, so no TensorFlow error ever leaves the
iterator, and counted: every element then has four more keys, ``record_ok`` (bool), ``bad_records``
(int64: bad records dropped just before it), ``bad_source`` (string: the file of the last of them) and
``keep`` (bool, always True: the pipeline's own filter flag, left in because dropping it costs a tf.data
function call per record).
``N`` bad records in a row give one element with ``record_ok`` False (zeros otherwise), the consumer's
cue to stop. Dropped records are counted when the next element arrives (a readable record or a file's end
marker), so a stop marker may report more than ``N``. A file is checked against its size: one marker
counts for the unreadable rest of a file (truncated, corrupt, unreadable). Cost: every tf.data function
call costs about as much as reading a record, so the checks add no per-record call but one ordered ``scan``
(the counting, which must see the records in order after the parallel parse): the size accounting runs on
chunks of records, the version check and the markers inside the parse map, the filter reads a flag
(``python -m training.input_benchmark`` measures the cost against the training step).

``make_dataset`` reads one source; ``make_mixed_dataset`` interleaves a multi-frame (VoxCeleb) and an image
(EmotioNet) source with an exact ratio (3:1 by default: the repeating pattern V V V E). In deterministic
mode the order is a pure function of the files and the seed (seeded shuffles, ordered parallel maps).
"""

from __future__ import annotations

import glob
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from data import lips
from data import schema
from model import config as model_config
from model import semantics

S = model_config.IMAGE_SIZE
DEFAULT_NUM_FRAMES = model_config.NUM_FRAMES
DEFAULT_RATIO = (3, 1)
DT_MODES = ('fast', 'exact', 'none')


def element_spec(num_frames: int = DEFAULT_NUM_FRAMES, batch_size: int | None = 1) -> dict:
  """The element structure of the pipelines (see the module docstring)."""
  b = [] if batch_size is None else [batch_size]
  f = num_frames
  return {
      'image': tf.TensorSpec(b + [f, S, S, 3], tf.float32),
      'landmarks': tf.TensorSpec(b + [f, semantics.NUM_LANDMARKS, 2], tf.float32),
      'lip_masks': tf.TensorSpec(b + [f, S, S, 2], tf.float32),
      'lip_distance': tf.TensorSpec(b + [f, S, S, schema.NUM_LIP_CONTOURS], tf.float32),
      'lip_contours': tf.TensorSpec(b + [f, schema.NUM_LIP_CONTOURS, schema.MAX_CONTOUR_POINTS, 2],
                                    tf.float32),
      'lip_contour_lengths': tf.TensorSpec(b + [f, schema.NUM_LIP_CONTOURS], tf.int32),
      'is_neutral': tf.TensorSpec(b, tf.bool),
      'is_video': tf.TensorSpec(b, tf.bool),
      'frame_index': tf.TensorSpec(b + [f], tf.int64),
      'dataset': tf.TensorSpec(b, tf.string),
      'clip_id': tf.TensorSpec(b, tf.string),
  }


def list_files(patterns: str | Sequence[str]) -> list[str]:
  """Sorted TFRecord files from globs, folders (all ``*.tfrecord`` inside) or file names."""
  if isinstance(patterns, (str, os.PathLike)):
    patterns = [patterns]
  files = set()
  for p in patterns:
    p = str(p)
    if os.path.isdir(p):
      files.update(glob.glob(os.path.join(p, '*' + schema.SHARD_SUFFIX)))
    else:
      files.update(glob.glob(p))
  if not files:
    raise FileNotFoundError(f'No TFRecord files match {list(patterns)}.')
  return sorted(files)


def frame_selection(num_record_frames, num_frames: int):
  """Indices of the frames used: evenly spread when the record has enough, else repeated cyclically."""
  n = tf.cast(num_record_frames, tf.int32)
  i = tf.range(num_frames, dtype=tf.int32)
  spread = (i * n) // num_frames
  return tf.where(n >= num_frames, spread, i % tf.maximum(n, 1))


def _dt_mode(distance_transforms) -> str:
  if distance_transforms is True:
    return 'fast'
  if distance_transforms is False or distance_transforms is None:
    return 'none'
  if distance_transforms not in DT_MODES:
    raise ValueError(f'distance_transforms must be one of {DT_MODES}, got {distance_transforms!r}.')
  return distance_transforms


def _fast_dts(points, lengths):
  """numpy_function body: [u, 4, P, 2] padded polylines + [u, 4] lengths -> [u, S, S, 4]."""
  return np.stack([lips.distance_transforms_cv2([p[:l] for p, l in zip(points[i], lengths[i])], S)
                   for i in range(len(points))]).astype(np.float32)


def parse_record(serialized, num_frames: int = DEFAULT_NUM_FRAMES,
                 distance_transforms: str | bool = 'fast', check_version: bool = False) -> dict:
  """Parses and decodes one record into an (unbatched) element.

  ``check_version``: fail (InvalidArgumentError) on a record of another ``schema.SCHEMA_VERSION``.
  """
  spec = schema.feature_spec()
  if check_version:
    spec['meta/schema_version'] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
  ex = tf.io.parse_single_example(serialized, spec)
  if check_version:
    tf.debugging.assert_equal(ex['meta/schema_version'], tf.constant(schema.SCHEMA_VERSION, tf.int64),
                              message='schema version')
  n = tf.cast(ex['frames/count'][0], tf.int32)
  sel = frame_selection(n, num_frames)
  jpegs = tf.gather(tf.sparse.to_dense(ex['frames/image'], default_value=''), sel)
  pngs = tf.gather(tf.sparse.to_dense(ex['frames/lip_mask'], default_value=''), sel)
  image = tf.map_fn(lambda x: tf.io.decode_jpeg(x, channels=3), jpegs, fn_output_signature=tf.uint8)
  image = tf.reshape(tf.image.convert_image_dtype(image, tf.float32), [num_frames, S, S, 3])
  label = tf.map_fn(lambda x: tf.io.decode_png(x, channels=1), pngs, fn_output_signature=tf.uint8)
  label = tf.reshape(label, [num_frames, S, S])
  masks = tf.stack([tf.equal(label, semantics.REGION_UPPER_LIP),
                    tf.equal(label, semantics.REGION_LOWER_LIP)], -1)
  lm = tf.reshape(tf.sparse.to_dense(ex['frames/landmarks']), [n, semantics.NUM_LANDMARKS, 2])
  out = {
      'image': image,
      'landmarks': tf.reshape(tf.gather(lm, sel), [num_frames, semantics.NUM_LANDMARKS, 2]),
      'lip_masks': tf.cast(masks, tf.float32),
      'is_neutral': tf.equal(ex['meta/is_neutral'], 1),
      'is_video': tf.equal(ex['meta/is_video'], 1),
      'frame_index': tf.reshape(tf.gather(tf.sparse.to_dense(ex['frames/index']), sel), [num_frames]),
      'dataset': ex['meta/dataset'],
      'clip_id': ex['meta/clip_id'],
  }
  points = tf.reshape(tf.sparse.to_dense(ex['frames/lip_contour_points']), [-1, 2])
  lengths = tf.cast(tf.sparse.to_dense(ex['frames/lip_contour_lengths']), tf.int32)  # [n * 4]
  # Padded polylines: index of point j of contour c = start_c + min(j, len_c - 1); empty -> a zero row.
  starts = tf.cumsum(lengths, exclusive=True)
  r = tf.range(schema.MAX_CONTOUR_POINTS)[tf.newaxis]
  idx = tf.where(lengths[:, tf.newaxis] > 0,
                 starts[:, tf.newaxis] + tf.minimum(r, tf.maximum(lengths[:, tf.newaxis] - 1, 0)),
                 tf.shape(points)[0])
  padded = tf.gather(tf.concat([points, tf.zeros([1, 2])], 0), idx)  # [n * 4, P, 2]
  padded = tf.reshape(padded, [n, schema.NUM_LIP_CONTOURS, schema.MAX_CONTOUR_POINTS, 2])
  lengths = tf.reshape(lengths, [n, schema.NUM_LIP_CONTOURS])
  out['lip_contours'] = tf.reshape(tf.gather(padded, sel), [num_frames, schema.NUM_LIP_CONTOURS,
                                                            schema.MAX_CONTOUR_POINTS, 2])
  out['lip_contour_lengths'] = tf.reshape(tf.gather(lengths, sel), [num_frames, schema.NUM_LIP_CONTOURS])
  mode = _dt_mode(distance_transforms)
  if mode == 'none':
    out['lip_distance'] = tf.zeros([num_frames, S, S, schema.NUM_LIP_CONTOURS], tf.float32)
    return out
  unique, inverse = tf.unique(sel)  # compute each distinct frame once (images repeat N_f times)
  u_points = tf.gather(padded, unique)
  u_lengths = tf.gather(lengths, unique)
  if mode == 'exact':
    flat_lengths = tf.reshape(u_lengths, [-1])
    mask = tf.sequence_mask(flat_lengths, schema.MAX_CONTOUR_POINTS)
    pts = tf.boolean_mask(tf.reshape(u_points, [-1, schema.MAX_CONTOUR_POINTS, 2]), mask)
    dt = lips.distance_transforms_tf(pts, flat_lengths, S)  # [u * 4, S, S]
    dt = tf.transpose(tf.reshape(dt, [-1, schema.NUM_LIP_CONTOURS, S, S]), [0, 2, 3, 1])
  else:
    dt = tf.numpy_function(_fast_dts, [u_points, u_lengths], tf.float32, stateful=False)
  out['lip_distance'] = tf.reshape(tf.gather(dt, inverse), [num_frames, S, S, schema.NUM_LIP_CONTOURS])
  return out


def _options(deterministic: bool) -> tf.data.Options:
  opts = tf.data.Options()
  opts.deterministic = deterministic
  opts.experimental_optimization.map_parallelization = True
  return opts


def records(patterns, shuffle: bool = True, deterministic: bool = False, seed: int = 0,
            repeat: bool = True, shuffle_buffer: int = 256, guarded: bool = False) -> tf.data.Dataset:
  """Serialized records of the files matching ``patterns`` (files shuffled, records shuffled).

  With ``guarded=True`` the elements are ``(record, status, file)``: status 0 for a record, then one end
  marker per file read: 1 when the rest of ``file`` was unreadable (a read error, a truncated or corrupt
  file: the file's records are counted against its size), 2 when it was read to its end; reading errors
  never reach the caller.
  """
  files = list_files(patterns)
  seed_ = seed if deterministic else None
  if guarded:
    ds = tf.data.Dataset.from_tensor_slices((files, tf.constant([_file_size(f) for f in files], tf.int64)))
  else:
    ds = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    ds = ds.shuffle(len(files), seed=seed_, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.interleave(_guarded_file if guarded else tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                     block_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  if shuffle:
    ds = ds.shuffle(shuffle_buffer, seed=None if seed_ is None else seed_ + 1,
                    reshuffle_each_iteration=True)
  return ds


# -------------------------------------------------------------------------- guarded reading (training)

DEFAULT_MAX_BAD_RECORDS = 100
_RECORD_OVERHEAD = 16  # TFRecord framing: length (8) + its CRC (4) + the data's CRC (4)
_CHUNK = 16  # records accounted per function call (``_guarded_file``)


def _file_size(path: str) -> int:
  try:
    return os.path.getsize(path)
  except OSError:
    return -1  # unreadable: its reading fails and gives one bad-record marker


def _guarded_file(filename, size):
  """One file's records as (record, 0, file), then an end marker (b'', 1, file) when the file was not read to
  its end, else (b'', 2, file) (so that a source of bad records still gives elements, see ``_skip_bad``).

  The accounting runs on chunks of ``_CHUNK`` records (one small function call per chunk, not per record:
  a tf.data function call costs tens of microseconds, as much as reading a record).
  """
  chunks = tf.data.TFRecordDataset(filename).ignore_errors().batch(_CHUNK)  # a read error ends the file
  chunks = chunks.map(lambda r: (r, tf.constant(False)))
  ds = chunks.concatenate(tf.data.Dataset.from_tensors((tf.constant([b'']), tf.constant(True))))

  def account(consumed, x):
    recs, is_end = x
    status = tf.where(is_end, tf.where(tf.equal(consumed, size), 2, 1), 0)
    length = tf.reduce_sum(tf.cast(tf.strings.length(recs), tf.int64) + _RECORD_OVERHEAD)
    consumed += tf.where(is_end, tf.constant(0, tf.int64), length)
    n = tf.shape(recs)[:1]
    return consumed, (recs, tf.fill(n, tf.cast(status, tf.int32)), tf.fill(n, filename))

  return ds.scan(tf.constant(0, tf.int64), account).unbatch()


def _placeholder(num_frames: int) -> dict:
  return {k: tf.zeros(v.shape, v.dtype) if v.dtype != tf.string else tf.constant('')
          for k, v in element_spec(num_frames, None).items()}


def _parse_or_marker(index, record, status, filename, num_frames, distance_transforms):
  """A record's element (its parse or decode errors are dropped by ``ignore_errors`` after the map, which
  leaves a gap in ``index``), or zeros for a file marker."""
  element = tf.cond(tf.equal(status, 0),
                    lambda: parse_record(record, num_frames, distance_transforms, check_version=True),
                    lambda: _placeholder(num_frames))
  return index, element, status, filename


def _skip_bad(ds, max_bad_records: int):
  """Drops the bad records of (index, element, status, file), counting them: a gap in the indices (records
  whose parsing failed) and the markers of unreadable file rests. The records that remain get
  ``record_ok`` True, ``bad_records`` (bad records just before it) and ``bad_source``; ``max_bad_records``
  bad ones in a row give one element with ``record_ok`` False (a stop marker). Every element that leaves
  has ``keep`` True: the filter reads that flag as it is (tf.data then calls no function for it), which
  spares a second function call per record after the scan (a projection dropping ``keep`` would cost one).
  """
  zero, empty = tf.constant(0, tf.int64), tf.constant('')

  def count(state, x):
    expected, run, last = state
    index, element, status, filename = x
    unreadable = tf.equal(status, 1)
    run = run + index - expected + tf.cast(unreadable, tf.int64)
    last = tf.where(unreadable, filename, last)
    good = tf.equal(status, 0)
    stop = run >= max_bad_records
    keep = tf.logical_or(good, stop)
    out = dict(element, record_ok=tf.logical_and(good, tf.logical_not(stop)), bad_records=run,
               bad_source=last, keep=keep)
    return (index + 1, tf.where(keep, zero, run), tf.where(keep, empty, last)), out

  return ds.scan((zero, zero, empty), count).filter(lambda e: e['keep'])


def _finish(ds: tf.data.Dataset, batch_size: int | None, deterministic: bool, prefetch: bool):
  if batch_size:
    ds = ds.batch(batch_size, drop_remainder=True)
  if prefetch:
    ds = ds.prefetch(tf.data.AUTOTUNE)
  return ds.with_options(_options(deterministic))


def make_dataset(patterns, num_frames: int = DEFAULT_NUM_FRAMES, batch_size: int | None = 1,
                 shuffle: bool = True, deterministic: bool = False, seed: int = 0, repeat: bool = True,
                 shuffle_buffer: int = 256, distance_transforms: str | bool = 'fast',
                 prefetch: bool = True, skip_bad_records: int | None = None) -> tf.data.Dataset:
  """Samples from one set of TFRecords (any dataset kind); see the module docstring for the elements.

  Args:
    patterns: glob(s), folder(s) or file(s) of TFRecord shards.
    num_frames: N_f frames per element.
    batch_size: batch size (drop remainder), or None for unbatched elements.
    shuffle: shuffle files and records.
    deterministic: reproducible order for a given ``seed`` (slower: ordered parallel maps).
    seed: shuffle seed (used in deterministic mode).
    repeat: repeat forever.
    shuffle_buffer: record shuffle buffer.
    distance_transforms: 'fast' | 'exact' | 'none' (see the module docstring); True = 'fast'.
    prefetch: prefetch (AUTOTUNE).
    skip_bad_records: None: a bad record (random bytes, a truncated or corrupt file, missing keys, a tensor
      of the wrong length, an undecodable image, another schema version) raises its TensorFlow error from
      the iterator. N: such records are skipped and counted (the elements get ``record_ok``,
      ``bad_records`` and ``bad_source``, see "Bad records" in the module docstring); N bad records in a
      row give an element with ``record_ok`` False, after which the caller should stop.
  """
  if skip_bad_records is not None:
    if skip_bad_records < 1:
      raise ValueError(f'skip_bad_records must be >= 1, got {skip_bad_records}.')
    ds = records(patterns, shuffle, deterministic, seed, repeat, shuffle_buffer, guarded=True).enumerate()
    # Ordered (the gaps in the indices count the dropped records); the order itself stays shuffled.
    ds = ds.map(lambda i, x: _parse_or_marker(i, *x, num_frames, distance_transforms),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    ds = _skip_bad(ds, int(skip_bad_records))
    return _finish(ds, batch_size, deterministic, prefetch)
  ds = records(patterns, shuffle, deterministic, seed, repeat, shuffle_buffer)
  ds = ds.map(lambda r: parse_record(r, num_frames, distance_transforms),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  return _finish(ds, batch_size, deterministic, prefetch)


def make_mixed_dataset(video_patterns, image_patterns, ratio: Sequence[int] = DEFAULT_RATIO,
                       num_frames: int = DEFAULT_NUM_FRAMES, batch_size: int | None = 1,
                       shuffle: bool = True, deterministic: bool = False, seed: int = 0,
                       shuffle_buffer: int = 256, distance_transforms: str | bool = 'fast',
                       prefetch: bool = True, skip_bad_records: int | None = None) -> tf.data.Dataset:
  """Multi-frame video samples and image samples mixed ``ratio[0]:ratio[1]`` (exactly, per cycle).

  The paper's combined stage uses VoxCeleb:EmotioNet = 3:1. Both sources repeat forever. Mixing happens
  before batching, so a batch of 4 holds on average 3 video and 1 image sample. ``skip_bad_records``: as
  in ``make_dataset``, for each source.
  """
  if len(ratio) != 2 or min(ratio) < 0 or sum(ratio) <= 0:
    raise ValueError(f'ratio must be two non-negative integers, got {ratio}.')
  common = dict(num_frames=num_frames, batch_size=None, shuffle=shuffle, deterministic=deterministic,
                shuffle_buffer=shuffle_buffer, distance_transforms=distance_transforms, prefetch=False,
                skip_bad_records=skip_bad_records)
  sources, pattern = [], []
  if ratio[0]:
    sources.append(make_dataset(video_patterns, seed=seed, **common))
    pattern += [len(sources) - 1] * int(ratio[0])
  if ratio[1]:
    sources.append(make_dataset(image_patterns, seed=seed + 7, **common))
    pattern += [len(sources) - 1] * int(ratio[1])
  choice = tf.data.Dataset.from_tensor_slices(tf.constant(pattern, tf.int64)).repeat()
  ds = tf.data.Dataset.choose_from_datasets(sources, choice)
  return _finish(ds, batch_size, deterministic, prefetch)


def parse_ratio(text: str) -> tuple[int, int]:
  """'3:1' -> (3, 1) (for flags)."""
  a, b = text.split(':')
  return int(a), int(b)
