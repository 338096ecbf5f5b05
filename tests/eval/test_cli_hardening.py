"""The user-facing CLIs under hostile input and faults (docs/cli_contract.md): damaged run folders, output
clashes, unwritable and full output folders, misleading messages, grayscale photos."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from model import reconstruction
from tests.eval import tiny_run

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _two_stage_run(run_dir):
  """A tiny run with an identity and a (newer) combined checkpoint."""
  run = tiny_run.make_run(run_dir)
  src, dst = run / 'checkpoints' / 'combined', run / 'checkpoints' / 'identity'
  shutil.copytree(src, dst)
  return run, src


def _cli(module, *args, timeout=300):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout)


@pytest.mark.parametrize('damage', ['missing_index', 'truncated_data', 'flipped_data', 'only_temp_dir'])
def test_a_damaged_newest_checkpoint_is_refused_not_replaced_by_an_older_stage(tmp_path, damage):
  run, newest = _two_stage_run(tmp_path / 'run')
  assert reconstruction.load_autoencoder(run).restored_from.endswith('combined/ckpt-1')
  (index,) = newest.glob('*.index')
  (data,) = newest.glob('*.data-*')
  if damage == 'missing_index':
    index.unlink()
  elif damage == 'truncated_data':
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 3])
  elif damage == 'flipped_data':
    raw = bytearray(data.read_bytes())
    for i in range(0, len(raw), 97):
      raw[i] ^= 0x5A
    data.write_bytes(bytes(raw))
  else:
    shutil.rmtree(newest)
    (newest / 'ckpt-7_temp').mkdir(parents=True)  # what a save that failed (disk full) leaves
  with pytest.raises(reconstruction.NotAModelError, match='combined'):
    reconstruction.load_autoencoder(run)


def test_reconstruct_cli_exits_2_without_a_traceback_on_a_truncated_checkpoint(tmp_path, photo):
  run, newest = _two_stage_run(tmp_path / 'run')
  (data,) = newest.glob('*.data-*')
  data.write_bytes(data.read_bytes()[:100])
  res = _cli('eval.reconstruct', f'--model={run}', f'--input={photo}', f'--output={tmp_path / "out"}')
  assert res.returncode == 2, res.stderr[-2000:]
  assert 'damaged checkpoint' in res.stderr and 'Traceback' not in res.stderr
  assert not (tmp_path / 'out' / 'summary.json').exists()


def test_garbage_config_json_is_named_in_the_error(tmp_path):
  run = tiny_run.make_run(tmp_path / 'run')
  (run / 'config.json').write_bytes(b'\x00\xffgarbage{')
  with pytest.raises(reconstruction.NotAModelError, match='config.json'):
    reconstruction.load_autoencoder(run)


def _opts():
  from eval import reconstruct  # pylint: disable=g-import-not-at-top
  return reconstruct.Options(min_face_size=100, texture_size=64, progress=False)


def test_same_stem_images_get_separate_output_folders(tiny_model, photo, tmp_path):
  from PIL import Image
  from eval import reconstruct
  folder = tmp_path / 'in'
  folder.mkdir()
  shutil.copy(photo, folder / 'person.jpg')
  Image.open(photo).save(folder / 'person.png')
  summary = reconstruct.run(tiny_model, folder, tmp_path / 'out', _opts())
  outs = {pathlib.Path(f['outputs'][0]).name for f in summary['files'].values()}
  assert outs == {'person_jpg', 'person_png'}
  assert all((tmp_path / 'out' / o / 'full.obj').exists() for o in outs)


def test_grayscale_photo_is_noted_in_the_summary(tiny_model, photo, tmp_path):
  from PIL import Image
  from eval import reconstruct
  Image.open(photo).convert('L').save(tmp_path / 'gray.png')
  summary = reconstruct.run(tiny_model, tmp_path / 'gray.png', tmp_path / 'out', _opts())
  entry = summary['files'][str(tmp_path / 'gray.png')]
  assert entry['conversions'] == ['grayscale'] and 'grayscale' in entry['note']
  colour = reconstruct.run(tiny_model, photo, tmp_path / 'out2', _opts())
  assert 'conversions' not in colour['files'][str(photo)]


def test_full_and_read_only_output_disks_end_with_an_output_error_and_no_partial_results(tiny_model, photo,
                                                                                         tmp_path):
  from eval import reconstruct
  from tests import fs_faults
  with fs_faults.small_tmpfs(tmp_path, '4m') as disk:
    out = disk / 'out'
    out.mkdir()
    fs_faults.fill(disk, leave=32 << 10)
    with pytest.raises(reconstruct.OutputError, match='No space left'):
      reconstruct.run(tiny_model, photo, out, _opts())
    assert list(out.iterdir()) == []  # the partial full.obj & co. are removed
  with fs_faults.read_only(tmp_path / 'ro') as ro:
    with pytest.raises(reconstruct.OutputError, match='Read-only|cannot create'):
      reconstruct.run(tiny_model, photo, ro / 'out', _opts())
  (tmp_path / 'file').write_text('x')
  with pytest.raises(NotADirectoryError, match='is a file'):
    reconstruct.run(tiny_model, photo, tmp_path / 'file', _opts())


def test_messages_name_the_real_reason(tmp_path, tiny_model_dir):
  from data import face_frames
  from eval import reconstruct
  loop = tmp_path / 'loop.jpg'
  os.symlink(loop, loop)
  with pytest.raises(FileNotFoundError, match='symbolic link loop'):
    face_frames.list_inputs(loop)
  (tmp_path / 'a_file').write_text('x')
  with pytest.raises(FileNotFoundError, match='part of its path is a file'):
    face_frames.list_inputs(tmp_path / 'a_file' / 'photo.jpg')
  msg = reconstruct.no_face_message({'skipped': {'unreadable_image': 2}})
  assert 'unreadable_image 2' in msg and 'min_face_size' not in msg
  folder = tmp_path / 'in'
  folder.mkdir()
  (folder / 'broken.jpg').write_bytes(b'not a jpeg')
  res = _cli('eval.reconstruct', f'--model={tiny_model_dir}', f'--input={folder}',
             f'--output={tmp_path / "o"}', '--noprogress')
  assert res.returncode == 1 and 'unreadable_image 1' in res.stderr and 'min_face_size' not in res.stderr


def test_bu3dfe_with_every_image_unreadable_exits_1_with_the_reason(synthetic, ict_export, tmp_path):
  src = next(synthetic.test_bu3dfe.rglob('*_F3D.wrl')).parent
  data = tmp_path / 'data' / src.name
  shutil.copytree(src, data)
  for image in data.glob('*_F2D.*'):
    image.write_bytes(b'not an image')
  res = _cli('eval.bu3dfe', f'--model={ict_export}', f'--data={data.parent}', '--baselines=false')
  assert res.returncode == 1, res.stderr[-2000:]
  assert 'no image could be evaluated (unreadable 2D image' in res.stderr and 'Traceback' not in res.stderr


def test_eval_clis_turn_a_full_disk_into_one_line_and_exit_2(tmp_path, capsys):
  from eval import errors
  from tests import fs_faults

  @errors.friendly('eval.report')
  def main(argv):
    del argv
    (out / 'report.md').write_text('x' * (1 << 20))

  with fs_faults.small_tmpfs(tmp_path, '1m') as disk:
    out = disk
    fs_faults.fill(disk)
    with pytest.raises(SystemExit) as exit_info:
      main([])
  assert exit_info.value.code == 2
  assert 'eval.report: error: cannot write' in capsys.readouterr().err
