"""300-W .pts landmark files: the shared hand-made annotations read as 0-based pixels; malformed files raise
FormatError naming the file."""

import numpy as np
import pytest

from common import paths
from common.errors import FormatError
from data import landmarks_eval
from data import media
from tests import format_fuzz


def _pts(points, count=None, close=True):
  body = ''.join(f'{x} {y}\n' for x, y in points)
  n = len(points) if count is None else count
  return f'version: 1\nn_points:  {n}\n{{\n{body}' + ('}\n' if close else '')


def test_reads_points_and_converts_one_based_to_zero_based(tmp_path):
  (tmp_path / 'a.pts').write_text(_pts([(1.0, 1.0), (11.5, 21.25), (3, 4)]))
  np.testing.assert_allclose(landmarks_eval.read_pts(tmp_path / 'a.pts'), [[0, 0], [10.5, 20.25], [2, 3]])


def test_shared_300w_annotations_have_68_points_inside_their_images():
  root = paths.shared_path('media', 'landmarks300w')
  files = sorted(root.glob('*.pts'))
  assert len(files) == 11
  for f in files:
    pts = landmarks_eval.read_pts(f)
    w, h = media.image_size(f.with_suffix('.jpg'))
    assert pts.shape == (68, 2)
    assert np.all(pts >= -1) and np.all(pts[:, 0] < w) and np.all(pts[:, 1] < h), f.name
    # Outer eye corners: 36 is the subject's right eye (image left), 45 the left one.
    assert pts[36, 0] < pts[45, 0], f.name


@pytest.mark.parametrize('text, message', [
    (_pts([(1, 2)] * 3, count=4), '3 points, expected n_points = 4'),
    (_pts([(1, 2), (1, 'nan')]), "point line '1 nan', expected two finite numbers"),
    (_pts([(1, 2), (1, '2 3')]), 'expected two finite numbers'),
    (_pts([(1, 2)], close=False), 'no closing'),
    ('version: 1\n{\n1 2\n}\n', 'n_points: N'),
    ('version: 1\nn_points: x\n{\n1 2\n}\n', "n_points 'x', expected an integer"),
])
def test_malformed_pts_raise_format_error(tmp_path, text, message):
  (tmp_path / 'a.pts').write_text(text)
  with pytest.raises(FormatError, match=message) as e:
    landmarks_eval.read_pts(tmp_path / 'a.pts')
  assert e.value.path == str(tmp_path / 'a.pts')


def test_fuzzed_pts_read_correctly_or_raise_format_error(tmp_path):
  def check(points):
    assert points.ndim == 2 and points.shape[1] == 2 and len(points) > 0 and np.all(np.isfinite(points))

  outcome = format_fuzz.fuzz(landmarks_eval.read_pts, _pts([(i + 0.5, 2 * i) for i in range(10)]), check,
                             tmp_path, 'fuzz.pts', count=200)
  assert outcome['rejected'] > 50 and outcome['accepted'] > 10, outcome
