"""tf.data pipelines with ``skip_bad_records``: each kind of bad record is skipped and counted, not raised."""

import numpy as np
import pytest
import tensorflow as tf

from data import pipeline
from data import schema
from tests.data import conftest as fixtures


def _good(rng, clip_ids):
  return [schema.serialize_sample(fixtures.fake_sample(rng, 'voxceleb', c, 2)) for c in clip_ids]


def _edited(serialized, edit):
  ex = tf.train.Example.FromString(serialized)
  edit(ex.features.feature)
  return ex.SerializeToString()


def short_landmarks(serialized):
  """The record with its landmark tensor cut to 10 values (it still has the right keys and version)."""
  return _edited(serialized, lambda f: f['frames/landmarks'].float_list.value.__delitem__(slice(10, None)))


def write_all_bad(path, rng, count=3):
  """A shard of ``count`` records with too short landmark tensors."""
  return _write(path, [short_landmarks(_good(rng, ['id9_a'])[0])] * count)


def _write(path, records):
  with tf.io.TFRecordWriter(str(path)) as w:
    for r in records:
      w.write(r)
  return path


def bad_record_files(root, rng):
  """Writes good.tfrecord (3 good records) and one file per kind of bad input; returns (good clip ids,
  bad-record count of one pass)."""
  good = _good(rng, ['id1_a', 'id1_b', 'id1_c'])
  _write(root / 'good.tfrecord', good)
  short = short_landmarks(good[0])
  no_count = _edited(good[0], lambda f: f.__delitem__('frames/count'))
  old = _edited(good[0], lambda f: f['meta/schema_version'].int64_list.value.__setitem__(0, 99))
  bad_jpeg = _edited(good[0], lambda f: f['frames/image'].bytes_list.value.__setitem__(0, b'not a jpeg'))
  _write(root / 'records_of_wrong_content.tfrecord', [short, no_count, old, bad_jpeg])
  (root / 'random_bytes.tfrecord').write_bytes(rng.bytes(3000))
  data = _write(root / 'truncated.tfrecord', good[:2]).read_bytes()
  (root / 'truncated.tfrecord').write_bytes(data[:len(data) - 100])  # the second record cut: 1 good + 1 bad
  (root / 'flipped.tfrecord').write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # the first length's CRC
  return {'id1_a', 'id1_b', 'id1_c'}, 4 + 1 + 1 + 1


def test_every_kind_of_bad_record_is_skipped_and_counted_and_only_good_ones_come_out(tmp_path):
  good_ids, bad_per_pass = bad_record_files(tmp_path, np.random.default_rng(0))
  ds = pipeline.make_dataset(str(tmp_path / '*.tfrecord'), num_frames=2, batch_size=None, shuffle=False,
                             deterministic=True, distance_transforms='none', skip_bad_records=50)
  passes, per_pass = 4, len(good_ids) + 1  # + the truncated file's first record
  elements = list(ds.take(passes * per_pass))
  assert all(bool(e['record_ok']) for e in elements)
  assert {e['clip_id'].numpy().decode() for e in elements} == good_ids
  counted = sum(int(e['bad_records']) for e in elements)
  # Bad records after the last good element taken are not reported yet: between 3 and 4 passes' worth.
  assert (passes - 1) * bad_per_pass <= counted <= passes * bad_per_pass, counted
  sources = {e['bad_source'].numpy().decode() for e in elements} - {''}
  assert sources <= {str(tmp_path / n) for n in ('random_bytes.tfrecord', 'truncated.tfrecord',
                                                  'flipped.tfrecord')}
  assert sources


def test_a_source_of_only_bad_records_gives_a_stop_marker_after_n_in_a_row(tmp_path):
  write_all_bad(tmp_path / 'bad.tfrecord', np.random.default_rng(1))
  ds = pipeline.make_dataset(str(tmp_path / 'bad.tfrecord'), num_frames=2, batch_size=2,
                             distance_transforms='none', skip_bad_records=7)
  batch = next(iter(ds))  # a hang here (no element ever) is the failure this guards against
  assert not bool(tf.reduce_any(batch['record_ok']))
  # Dropped records are seen at the next element that arrives (here the file's end marker): >= 7.
  assert all(7 <= int(c) <= 7 + 256 for c in batch['bad_records']), batch['bad_records']


def test_without_skip_bad_records_a_bad_record_still_raises(tmp_path):
  write_all_bad(tmp_path / 'bad.tfrecord', np.random.default_rng(2), count=1)
  ds = pipeline.make_dataset(str(tmp_path / 'bad.tfrecord'), num_frames=2, batch_size=None, repeat=False,
                             distance_transforms='none')
  with pytest.raises(tf.errors.InvalidArgumentError):
    next(iter(ds))
  with pytest.raises(ValueError, match='skip_bad_records'):
    pipeline.make_dataset(str(tmp_path / 'bad.tfrecord'), skip_bad_records=0)
