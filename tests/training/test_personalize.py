"""training.personalize on a short clip with a tiny untrained model."""

import json
import subprocess
import sys

import numpy as np
import pytest

from common import paths
from model import autoencoder as autoencoder_lib
from model import reconstruction
from tests.eval import tiny_run
from training import personalize
from training.personalize_flags import PersonalizeConfig

CLIP = 'talking_child_d11.mp4'


@pytest.fixture(scope='module')
def generic(tmp_path_factory):
  return tiny_run.make_run(tmp_path_factory.mktemp('generic') / 'run')


def test_personalisation_lowers_the_fine_tuning_loss_and_writes_its_report(generic, tmp_path):
  cfg = PersonalizeConfig(steps=8, learning_rate=1e-2, max_frames=10, stride=6, min_face_size=100,
                          num_figures=2)
  video = paths.shared_path('media', 'video', CLIP)
  report = personalize.personalize(generic, video, tmp_path, cfg, progress=False)
  assert report['fine_tune_loss']['after'] < report['fine_tune_loss']['before']
  saved = json.loads((tmp_path / 'personalize.json').read_text())
  assert saved['fine_tune_loss'] == report['fine_tune_loss']
  for when in ('before', 'after'):
    m = saved['held_out'][when]
    assert m['landmark_error_px'] > 0 and m['photometric_error'] > 0 and 0 <= m['lip_iou'] <= 1
  frames = saved['frames']
  assert frames['fine_tune'] + frames['held_out'] == frames['usable']
  assert max(frames['fine_tune_frame_indices']) < min(frames['held_out_frame_indices'])
  assert len(saved['history']) == cfg.steps
  for fig in saved['figures']:
    from PIL import Image
    with Image.open(fig) as im:
      assert im.size == (5 * 240, 240)
  # The personalised model is a run folder; only the bases changed.
  before = reconstruction.load_autoencoder(generic)
  after = reconstruction.load_autoencoder(tmp_path)
  assert not np.allclose(before.face_model.m_gexp.numpy(), after.face_model.m_gexp.numpy())
  np.testing.assert_array_equal(before.encoder.per_frame_head.kernel.numpy(),
                                after.encoder.per_frame_head.kernel.numpy())
  assert (tmp_path / 'export' / 'personalized.npz').is_file()


def test_too_few_usable_frames_is_a_clear_error(generic, tmp_path):
  cfg = PersonalizeConfig(steps=1, max_frames=2, stride=1, min_face_size=100)
  with pytest.raises(ValueError, match='usable frames'):
    personalize.personalize(generic, paths.shared_path('media', 'video', CLIP), tmp_path, cfg, progress=False)
  with pytest.raises(ValueError, match='new one'):
    personalize.personalize(generic, paths.shared_path('media', 'video', CLIP), generic, cfg, progress=False)


def test_cli_rejects_a_model_path_that_is_not_a_model(tmp_path):
  video = paths.shared_path('media', 'video', CLIP)
  res = subprocess.run([sys.executable, '-m', 'training.main', '--stage=personalize', f'--model={tmp_path}',
                        f'--video={video}', f'--run_dir={tmp_path / "p"}'],
                       capture_output=True, text=True, timeout=300)
  assert res.returncode == 2 and 'not a usable run folder' in res.stderr
  assert not (tmp_path / 'p' / autoencoder_lib.CONFIG_FILE).exists()
