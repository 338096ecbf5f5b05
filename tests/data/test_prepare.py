"""data.prepare on real media (shared/media) through the Beam pipeline: records, drops, resumability."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from data import face as face_lib
from data import media
from data import prepare
from data import preprocess
from data import schema
from model import config as model_config

pytestmark = pytest.mark.slow

# The clip's faces are ~90 px wide at 640x360: far under the paper's 200 px crops, so the tests lower it.
CFG = preprocess.Config(num_frames=4, min_face_size=100, candidates_per_segment=2)
NUM_SHARDS = 3


def _read_records(out):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  samples = {}
  for f in sorted(pathlib.Path(out).glob('*.tfrecord')):
    for r in tf.data.TFRecordDataset(str(f)).as_numpy_iterator():
      s = schema.parse_sample(r)
      samples[s.source] = s
  return samples


@pytest.fixture(scope='module')
def media_dir(tmp_path_factory, shared):
  """A folder of real and broken media (links to shared/, broken copies written here)."""
  d = tmp_path_factory.mktemp('media')
  photos, video = shared / 'media' / 'photos', shared / 'media' / 'video' / 'short_hamilton_clip.mp4'
  (d / 'video').mkdir()
  (d / 'photos').mkdir()
  os.symlink(video, d / 'video' / 'hamilton.mp4')
  data = video.read_bytes()
  (d / 'video' / 'corrupt.mp4').write_bytes(data[:len(data) * 2 // 3])
  (d / 'video' / 'empty.mp4').write_bytes(b'')
  for name, link in (('obama_partial_face.jpg', 'partial.jpg'),
                     ('jurica-koletic-7YVZYZeITc8-unsplash.jpg', 'portrait.jpg'),
                     ('sergey.png', 'rgba.png'), ('obama-240p.jpg', 'small.jpg')):
    os.symlink(photos / name, d / 'photos' / link)
  obama = np.asarray(Image.open(photos / 'obama.jpg').convert('RGB'))
  Image.fromarray(obama).convert('L').save(d / 'photos' / 'gray.png')
  g16 = (np.asarray(Image.fromarray(obama).convert('L'), np.uint16) * 257)
  Image.fromarray(g16).save(d / 'photos' / 'gray16.png')
  Image.fromarray(np.concatenate([obama, obama], 1)).save(d / 'photos' / 'two.jpg')
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)).save(
      d / 'photos' / 'noise.png')
  (d / 'photos' / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
  (d / 'notes.txt').write_text('not media: ignored')
  return d


@pytest.fixture(scope='module')
def prepared(media_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp('records')
  report = prepare.run('folder', str(media_dir), str(out), CFG, num_shards=NUM_SHARDS,
                       direct_running_mode='in_memory', direct_num_workers=1, progress=False)
  print(prepare.format_report(report))
  return out, report, _read_records(out)


def test_report_counts_every_bad_input(prepared):
  _, report, samples = prepared
  assert report['items'] == 12 and report['records'] == len(samples)
  files = report['files_dropped']
  for reason, n in (('corrupt_video', 1), ('empty_video', 1), ('unreadable_image', 1), ('several_faces', 1),
                    ('face_too_small', 1), ('no_face', 1)):
    assert files.get(reason, 0) >= n, (reason, report)
  assert report['records'] + sum(files.values()) == report['items']
  assert report['dropped_items']['video/corrupt.mp4'].startswith('corrupt_video')
  conv = report['conversions']
  assert conv.get('grayscale', 0) >= 2 and conv.get('alpha', 0) >= 1 and conv.get('high_bit_depth', 0) >= 1
  for ok in ('video/hamilton.mp4', 'photos/gray.png', 'photos/gray16.png', 'photos/rgba.png',
             'photos/portrait.jpg'):
    assert ok in samples, (ok, report)
  # The partial face is either kept (padded crop) or dropped for a face reason; never an error.
  assert 'photos/partial.jpg' in samples or report['dropped_items']['photos/partial.jpg'].split(':')[0] in (
      'no_face', 'face_too_small')
  assert 'internal_error' not in files
  # MediaPipe lips by default, on every kept frame of these ordinary faces.
  frames = [f for s in samples.values() for f in s.frames]
  assert report['lip_sources'] == {'mediapipe': len(frames)}
  assert all(f.lip_source == 'mediapipe' for f in frames)


def test_video_record_landmarks_lie_on_the_face(prepared):
  _, _, samples = prepared
  s = samples['video/hamilton.mp4']
  assert s.is_video and len(s.frames) == 4 and s.source_size == (640, 360) and s.dataset == 'folder'
  idx = [f.frame_index for f in s.frames]
  assert idx == sorted(set(idx)) and idx[-1] - idx[0] > 50  # spread over the clip
  analyzer = face_lib.FaceAnalyzer(min_face_size=50, upsample=1)
  for f in s.frames:
    assert f.crop_box[2] >= CFG.min_face_size
    assert np.all((f.landmarks >= 0) & (f.landmarks < model_config.IMAGE_SIZE))
    # A fresh detection on the stored 240x240 crop finds the face where the stored landmarks are.
    faces = analyzer.detect(f.image)
    assert faces, f.frame_index
    fresh = min(faces, key=lambda g: np.abs(g.landmarks - f.landmarks).mean()).landmarks
    iod = np.linalg.norm(f.landmarks[36] - f.landmarks[45])
    nme = np.linalg.norm(fresh - f.landmarks, axis=1).mean() / iod
    assert iod > 40 and nme < 0.1, (f.frame_index, nme)
    # The lip mask sits between the lip landmarks.
    ys, xs = np.nonzero(f.lip_mask)
    assert len(ys) > 50
    lo, hi = f.landmarks[48:60].min(0), f.landmarks[48:60].max(0)
    assert lo[0] - 2 <= xs.mean() <= hi[0] + 2 and lo[1] - 2 <= ys.mean() <= hi[1] + 2
  # The frames match a fresh detection in the source frames too (crop mapping is right).
  src = media.FrameSource(_shared_video())
  frames = src.read([f.frame_index for f in s.frames])
  for f in s.frames:
    face = max(face_lib.FaceAnalyzer(min_face_size=50).detect(frames[f.frame_index]), key=lambda g: g.size)
    mapped = face_lib.to_crop_coords(face.landmarks, tuple(int(v) for v in f.crop_box))
    assert np.abs(mapped - f.landmarks).max() < 1.0


def _shared_video():
  from common import paths  # pylint: disable=g-import-not-at-top
  return paths.shared_path('media', 'video', 'short_hamilton_clip.mp4')


def test_large_portrait(prepared):
  s = prepared[2]['photos/portrait.jpg']
  assert s.source_size == (2249, 2732) and not s.is_video and s.is_neutral == -1
  x0, y0, side = s.frames[0].crop_box
  assert side > 500 and -side < x0 < 2249 and -side < y0 < 2732  # a big face, in source pixels
  iod = np.linalg.norm(s.frames[0].landmarks[36] - s.frames[0].landmarks[45])
  assert 50 < iod < 150


def test_resume_skips_finished_shards_and_is_deterministic(prepared, media_dir):
  out, report, _ = prepared
  before = {p.name: p.read_bytes() for p in out.glob('*.tfrecord')}
  again = prepare.run('folder', str(media_dir), str(out), CFG, num_shards=NUM_SHARDS,
                      direct_running_mode='in_memory', direct_num_workers=1, progress=False)
  assert again['shards_skipped_as_finished'] == NUM_SHARDS and again['records'] == report['records']
  # Remove one finished shard: only it is processed again, to identical bytes.
  victim = max(before, key=lambda n: len(before[n]))
  (out / victim).unlink()
  (out / victim.replace('.tfrecord', '.json')).unlink()
  third = prepare.run('folder', str(media_dir), str(out), CFG, num_shards=NUM_SHARDS,
                      direct_running_mode='in_memory', direct_num_workers=1, progress=False)
  assert third['shards_skipped_as_finished'] == NUM_SHARDS - 1 and third['records'] == report['records']
  assert (out / victim).read_bytes() == before[victim]
  assert json.loads((out / 'manifest.json').read_text())['num_shards'] == NUM_SHARDS


def test_sharding_is_deterministic():
  assert prepare.shard_of('a/b.mp4', 7) == prepare.shard_of('a/b.mp4', 7)
  shards = {prepare.shard_of(f'clip{i}.mp4', 4) for i in range(100)}
  assert shards == set(range(4))


def test_listing_layouts(tmp_path):
  (tmp_path / 'id10001' / 'yt1').mkdir(parents=True)
  (tmp_path / 'id10001' / 'yt1' / '00001.mp4').write_bytes(b'')
  (tmp_path / 'train' / 'id10002#abc#1#2').mkdir(parents=True)
  Image.new('RGB', (8, 8)).save(tmp_path / 'train' / 'id10002#abc#1#2' / '0000000.png')
  items = prepare.list_items('voxceleb', tmp_path)
  assert [(i.source, i.kind, i.identity_id) for i in items] == [
      ('id10001/yt1/00001.mp4', 'video', 'id10001'), ('train/id10002#abc#1#2', 'frames', 'id10002')]
  emo = tmp_path / 'emo'
  emo.mkdir()
  (emo / 'dataFile_1.txt').write_text('http://h/Images/a.jpg\t0\t0\t999\nhttp://h/Images/b.jpg\t1\t0\t0\n')
  items = prepare.list_items('emotionet', emo)
  assert [(i.source, i.is_neutral, i.drop_reason) for i in items] == [('a.jpg', 1, ''),
                                                                      ('b.jpg', 0, 'not_neutral')]
  res = preprocess.process_item(items[1], emo, CFG)
  assert res.drops == {('file', 'not_neutral'): 1} and not res.records
  res = preprocess.process_item(items[0], emo, CFG)
  assert res.drops == {('file', 'missing_file'): 1}


def test_cli_multiprocess_default(tmp_path, shared):
  """The CLI with its default multi-process DirectRunner (2 workers) on two small inputs."""
  (tmp_path / 'in').mkdir()
  os.symlink(shared / 'media' / 'photos' / 'obama.jpg', tmp_path / 'in' / 'obama.jpg')
  (tmp_path / 'in' / 'bad.png').write_bytes(b'nope')
  repo = pathlib.Path(__file__).resolve().parents[2]
  proc = subprocess.run([sys.executable, '-m', 'data.prepare', '--kind=folder', f'--input={tmp_path / "in"}',
                         f'--output={tmp_path / "out"}', '--direct_num_workers=2', '--num_shards=2'],
                        cwd=repo, capture_output=True, text=True, timeout=240)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'records written: 1' in proc.stdout and 'unreadable_image 1' in proc.stdout
  report = json.loads((tmp_path / 'out' / 'report.json').read_text())
  assert report['records'] == 1 and report['files_dropped'] == {'unreadable_image': 1}


def test_emotionet_and_voxceleb_layouts_end_to_end(tmp_path, shared):
  """EmotioNet (AU list, neutral only) and VoxCeleb (FOMM frame folder) inputs through the pipeline."""
  photos = shared / 'media' / 'photos'
  emo = tmp_path / 'emotionet'
  (emo / 'imgs').mkdir(parents=True)
  os.symlink(photos / 'obama.jpg', emo / 'imgs' / 'neutral.jpg')
  os.symlink(photos / 'biden.jpg', emo / 'imgs' / 'smiling.jpg')
  neutral = ['0'] * 12 + ['999'] * 48
  active = ['1'] + ['0'] * 11 + ['999'] * 48
  url = 'http://cbcsnas01.ece.ohio-state.edu/EmotioNet/Images/imgs/'
  (emo / 'dataFile_0001.txt').write_text(f'{url}neutral.jpg\t' + '\t'.join(neutral) + '\n' +
                                         f'{url}smiling.jpg\t' + '\t'.join(active) + '\n' +
                                         f'{url}gone.jpg\t' + '\t'.join(neutral) + '\n')
  report = prepare.run('emotionet', str(emo), str(tmp_path / 'out_emo'), CFG, num_shards=1,
                       direct_running_mode='in_memory', direct_num_workers=1, progress=False)
  assert report['records'] == 1 and report['files_dropped'] == {'missing_file': 1, 'not_neutral': 1}
  (s,) = _read_records(tmp_path / 'out_emo').values()
  assert (s.dataset, s.source, s.is_neutral, len(s.frames)) == ('emotionet', 'imgs/neutral.jpg', 1, 1)

  # A VoxCeleb FOMM-style clip: a folder of PNG frames, identity from the folder name.
  clip = tmp_path / 'vox' / 'train' / 'id10001#abc#000100#000200'
  clip.mkdir(parents=True)
  frames = media.FrameSource(shared / 'media' / 'video' / 'short_hamilton_clip.mp4').read(range(100, 260, 10))
  for k, i in enumerate(sorted(frames)):
    Image.fromarray(frames[i]).save(clip / f'{k:07d}.png')
  report = prepare.run('voxceleb', str(tmp_path / 'vox'), str(tmp_path / 'out_vox'), CFG, num_shards=1,
                       direct_running_mode='in_memory', direct_num_workers=1, progress=False)
  assert report['records'] == 1, report
  (s,) = _read_records(tmp_path / 'out_vox').values()
  assert s.dataset == 'voxceleb' and s.identity_id == 'id10001' and s.is_video and len(s.frames) == 4


def test_downscaled_large_image_keeps_source_coordinates(shared):
  photos = shared / 'media' / 'photos'
  item = preprocess.WorkItem('jurica-koletic-7YVZYZeITc8-unsplash.jpg', 'image', 'folder', 'p')
  full = schema.parse_sample(preprocess.process_item(item, photos, CFG).records[0])
  small_cfg = preprocess.Config(min_face_size=100, max_side=1000)
  res = preprocess.process_item(item, photos, small_cfg)
  assert res.notes['large_image_downscaled'] == 1
  small = schema.parse_sample(res.records[0])
  assert small.source_size == full.source_size == (2249, 2732)
  np.testing.assert_allclose(small.frames[0].crop_box, full.frames[0].crop_box, rtol=0.05, atol=20)
  # Refused outright beyond max_pixels.
  res = preprocess.process_item(item, photos, preprocess.Config(max_pixels=1_000_000))
  assert res.drops == {('file', 'image_too_large'): 1}
