"""dlib imglab XML landmark files: malformed files raise FormatError naming the file."""

import numpy as np
import pytest

from common.errors import FormatError
from data import landmarks_eval
from tests import format_fuzz


def _xml(num_parts=68, box="top='10' left='20' width='50' height='60'", x='5'):
  parts = ''.join(f"<part name='{i:02d}' x='{x if i == 3 else 30 + i}' y='{40 + i}'/>\n"
                  for i in range(num_parts))
  return (f"<?xml version='1.0'?>\n<dataset>\n<images>\n<image file='a.jpg'>\n<box {box}>\n{parts}</box>\n"
          "<box top='0' left='0' width='5' height='5' ignore='1'/>\n</image>\n</images>\n</dataset>\n")


def test_reads_faces_with_68_parts(tmp_path):
  (tmp_path / 'f.xml').write_text(_xml())
  faces = landmarks_eval.read_dlib_xml(tmp_path / 'f.xml')
  assert len(faces) == 1 and faces[0].box == (20.0, 10.0, 70.0, 70.0) and faces[0].image == tmp_path / 'a.jpg'
  np.testing.assert_array_equal(faces[0].landmarks[3], [5, 43])


@pytest.mark.parametrize('text, message', [
    (_xml(num_parts=67), '67 parts, expected the 68 names'),
    (_xml(x='nan'), "attribute x='nan', expected a finite number"),
    (_xml(box="top='10' left='20' width='0' height='60'"), 'box size 0.0 x 60.0'),
    (_xml(box="top='10' width='50' height='60'"), "attribute left=None"),
    (_xml().replace("name='05'", "name='04'"), "part name '04'"),
    (_xml().replace('</images>', ''), 'not XML'),
])
def test_malformed_xml_raises_format_error(tmp_path, text, message):
  (tmp_path / 'f.xml').write_text(text)
  with pytest.raises(FormatError, match=message) as e:
    landmarks_eval.read_dlib_xml(tmp_path / 'f.xml')
  assert e.value.path == str(tmp_path / 'f.xml')


def test_fuzzed_xml_reads_correctly_or_raises_format_error(tmp_path):
  def check(faces):
    for f in faces:
      assert f.landmarks.shape == (68, 2) and np.all(np.isfinite(f.landmarks))
      assert f.box[2] > f.box[0] and f.box[3] > f.box[1]

  outcome = format_fuzz.fuzz(landmarks_eval.read_dlib_xml, _xml(num_parts=68), check, tmp_path, 'fuzz.xml',
                             count=300)
  assert outcome['rejected'] > 100 and outcome['accepted'] > 20, outcome
