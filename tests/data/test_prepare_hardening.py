"""data.prepare hardening: distinct clip frames, byte-deterministic records, resume with changed inputs, the
output-folder lock, a quiet CLI with hints, and the lip-quality measurement."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from data import lip_quality
from data import lips
from data import media
from data import prepare
from data import preprocess
from data import schema

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parents[2]
CFG = preprocess.Config(num_frames=4, min_face_size=100, candidates_per_segment=2)


def _run(inp, out, cfg=CFG, **kw):
  return prepare.run('folder', str(inp), str(out), cfg, num_shards=2, direct_running_mode='in_memory',
                     direct_num_workers=1, progress=False, **kw)


def _write_video(path, frames, fps=25):
  import av  # pylint: disable=g-import-not-at-top
  with av.open(str(path), 'w') as c:
    s = c.add_stream('libx264', rate=fps)
    s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], 'yuv420p'
    for f in frames:
      for p in s.encode(av.VideoFrame.from_ndarray(f, format='rgb24')):
        c.mux(p)
    for p in s.encode():
      c.mux(p)


@pytest.fixture(scope='module')
def obama(shared):
  return np.asarray(Image.open(shared / 'media' / 'photos' / 'obama.jpg').convert('RGB'))[:480, :640]


def test_one_frame_clips_are_dropped_as_too_few_frames(tmp_path, obama):
  _write_video(tmp_path / 'one.mp4', [obama])
  (tmp_path / 'frames').mkdir()
  Image.fromarray(obama).save(tmp_path / 'frames' / '0000.png')
  for source, kind in (('one.mp4', 'video'), ('frames', 'frames')):
    item = preprocess.WorkItem(source, kind, 'folder', source)
    res = preprocess.process_item(item, tmp_path, CFG)
    assert not res.records and res.drops[('file', preprocess.TOO_FEW_FRAMES)] == 1, (source, res)
    assert '1 distinct usable frames < 4' in res.detail and res.frames_examined == 1
    # Accepted once a single frame is enough.
    res = preprocess.process_item(item, tmp_path, preprocess.Config(min_face_size=100, min_frames=1))
    (rec,) = res.records
    assert [f.frame_index for f in schema.parse_sample(rec).frames] == [0]


def test_choose_frames_never_repeats_a_frame():
  segments = preprocess.candidate_frames(2, 4, 3)
  assert preprocess.choose_frames(segments, {0, 1}, 4) == [0, 1]
  assert preprocess.choose_frames(preprocess.candidate_frames(100, 4, 2), set(range(100)), 4) == [12, 37, 62,
                                                                                                  87]


_SERIALIZE = '''
import sys, numpy as np
from data import lips, schema
rng = np.random.default_rng(0)
lm = rng.uniform(60, 180, (68, 2)).astype(np.float32)
frame = schema.Frame(image=rng.integers(0, 255, (240, 240, 3), np.uint8), landmarks=lm,
                     lip_mask=lips.lip_label_map(lm), lip_contours=lips.lip_contours(lm), lip_source='dlib')
sys.stdout.buffer.write(schema.serialize_sample(schema.Sample([frame] * 2, 'folder', 's', 'c', 'i')))
'''


def test_records_are_byte_identical_across_processes(capfdbinary):
  """This process and another one (with another hash seed): protobuf map order differs between processes
  unless serialization is deterministic."""
  seed = str(int(os.environ.get('PYTHONHASHSEED', '0') or 0) + 1)
  env = dict(os.environ, PYTHONHASHSEED=seed, TF_CPP_MIN_LOG_LEVEL='3')
  proc = subprocess.run([sys.executable, '-c', _SERIALIZE], cwd=REPO, env=env, capture_output=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  exec(compile(_SERIALIZE, 'serialize', 'exec'), {})  # pylint: disable=exec-used
  here = capfdbinary.readouterr().out
  assert len(here) > 1000 and here == proc.stdout


@pytest.fixture()
def small_input(tmp_path, shared):
  inp = tmp_path / 'in'
  inp.mkdir()
  os.symlink(shared / 'media' / 'photos' / 'obama_small.jpg', inp / 'a.jpg')
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(inp / 'noise.png')
  return inp


def test_resume_redoes_shards_whose_inputs_changed(small_input, tmp_path, shared):
  out = tmp_path / 'out'
  first = _run(small_input, out)
  assert first['items'] == 2 and first['records'] == 1
  again = _run(small_input, out)
  assert again['shards_skipped_as_finished'] == 2 and again['shards_redone_inputs_changed'] == 0
  os.symlink(shared / 'media' / 'photos' / 'obama2.jpg', small_input / 'b.jpg')  # a new file
  third = _run(small_input, out)
  assert third['items'] == 3 and third['records'] == 2 and third['shards_redone_inputs_changed'] == 1
  assert third['shards_skipped_as_finished'] == 1
  (small_input / 'a.jpg').unlink()  # a removed file
  fourth = _run(small_input, out)
  assert fourth['items'] == 2 and fourth['records'] == 1 and fourth['shards_redone_inputs_changed'] >= 1


def test_resume_with_other_settings_or_input_refuses_or_restarts(small_input, tmp_path):
  out = tmp_path / 'out'
  _run(small_input, out)
  with pytest.raises(prepare.InputsChangedError, match=r'config.lip_source: .mediapipe. -> .dlib.'):
    _run(small_input, out, preprocess.Config(num_frames=4, min_face_size=100, candidates_per_segment=2,
                                             lip_source='dlib'))
  other = tmp_path / 'other'
  other.mkdir()
  with pytest.raises(prepare.InputsChangedError, match='input:'):
    _run(other, out)
  report = _run(other, out, restart=True)
  assert report['items'] == 0 and report['records'] == 0 and report['shards_skipped_as_finished'] == 0
  assert json.loads((out / 'manifest.json').read_text())['input'] == str(other.resolve())


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(small_input, tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  with prepare.output_lock(out):
    with pytest.raises(prepare.OutputInUseError, match=f'pid {os.getpid()}'):
      _run(small_input, out)
  assert _run(small_input, out)['records'] == 1  # released afterwards


def test_hints_name_the_flag_when_every_file_of_a_kind_is_dropped_for_one_reason():
  cfg = preprocess.Config()
  by_kind = {'video': {'items': 2, 'file/face_too_small': 2},
             'image': {'items': 3, 'file/face_too_small': 1, 'file/no_face': 2}}
  (hint,) = prepare.hints(by_kind, {'video': 136}, cfg)
  assert hint.startswith('every video file (2) was dropped as face_too_small: try --min_face_size=130')
  assert prepare.hints({'image': {'items': 2, 'file/face_too_small': 1}}, {}, cfg) == []


def test_cli_is_quiet_logs_to_a_file_and_hints(tmp_path, shared):
  """The shared Hamilton clip at the paper's 200 px: dropped, and the report says which flag keeps it."""
  (tmp_path / 'in').mkdir()
  os.symlink(shared / 'media' / 'video' / 'short_hamilton_clip.mp4', tmp_path / 'in' / 'hamilton.mp4')
  env = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'C3DMM_VERBOSE')}
  proc = subprocess.run([sys.executable, '-m', 'data.prepare', f'--input={tmp_path / "in"}',
                         f'--output={tmp_path / "out"}', '--direct_num_workers=1'], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=240)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # The progress bar only: no Beam, absl or TensorFlow lines.
  lines = [x for x in proc.stderr.replace('\r', '\n').splitlines() if x.strip()]
  assert lines and all(x.startswith('prepare:') for x in lines), proc.stderr[-3000:]
  assert 'hint: every video file (1) was dropped as face_too_small: try --min_face_size=' in proc.stdout
  log = (tmp_path / 'out' / prepare.LOG).read_text()
  assert 'items to process' in log


def test_lip_quality_scores_the_source_that_drew_the_truth_perfectly(shared):
  image, _, _ = media.load_image(shared / 'media' / 'photos' / 'obama.jpg')
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  (face,) = face_lib.FaceAnalyzer(min_face_size=50).detect(image)
  truth = lips.lip_label_map(face.landmarks, max(image.shape))
  pad = np.zeros((max(image.shape), max(image.shape), 3), np.uint8)
  pad[:image.shape[0], :image.shape[1]] = image
  row = lip_quality.frame_ious(pad, truth, face.landmarks, face_lib.FaceAnalyzer(min_face_size=50))
  assert row['dlib'] == {'used': 'dlib', 'upper': 1.0, 'lower': 1.0}
  assert row['mediapipe']['used'] == 'mediapipe' and 0.2 < row['mediapipe']['lower'] < 1.0
  assert lip_quality.iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_faces_the_mesh_rejects_get_dlib_lips_counted_in_the_report(small_input, tmp_path):
  strict = preprocess.Config(num_frames=4, min_face_size=100, candidates_per_segment=2, min_mesh_score=1.01)
  report = _run(small_input, tmp_path / 'out', strict)
  assert report['records'] == 1 and report['lip_sources'] == {'dlib_fallback': 1}
  assert 'dlib_fallback 1' in prepare.format_report(report)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  (rec,) = [r for f in sorted((tmp_path / 'out').glob('*.tfrecord'))
            for r in tf.data.TFRecordDataset(str(f)).as_numpy_iterator()]
  (frame,) = schema.parse_sample(rec).frames
  assert frame.lip_source == 'dlib'
  np.testing.assert_array_equal(frame.lip_mask, lips.lip_label_map(frame.landmarks))
