"""VoxCeleb txt annotations and CSVs; malformed files raise FormatError naming file and line."""

import numpy as np
import pytest

from common.errors import FormatError
from data import voxceleb
from tests import format_fuzz

VOX2_TXT = ('Identity  : \tid00012\nReference : \t_raOc3-IRsw\nOffset    : \t2\nFV Conf   : \t20.230\t(1)\n'
            'ASD Conf  : \t2.765\n\nFRAME \tX \tY \tW \tH\n000349 \t0.319 \t0.067 \t0.424 \t0.753\n'
            '000350 \t0.320 \t0.068 \t0.424 \t0.751\n')
VOX1_TXT = 'Identity  : \tA.J._Buckley\nReference : \t1zcIwhmdeo4\nOffset    : \t1\n\nFRAME\tX\tY\tW\tH\n' \
           '002316 223 80 130 130\n002317 224 80 130 131\n002318 224 81 130 131\n'


def test_txt_tree_reads_headers_frames_and_boxes(tmp_path):
  d = tmp_path / 'txt' / 'id00012' / '_raOc3-IRsw'
  d.mkdir(parents=True)
  (d / '00001.txt').write_text(VOX2_TXT)
  (tmp_path / 'txt' / 'id00012' / 'x').mkdir()
  (tmp_path / 'txt' / 'id00012' / 'x' / '00002.txt').write_text(VOX1_TXT)
  tracks = dict(voxceleb.iter_voxceleb_txt_tree(tmp_path / 'txt'))
  t = tracks['id00012/_raOc3-IRsw/00001']
  assert (t.identity, t.reference, t.offset, t.fv_conf, t.asd_conf) == ('id00012', '_raOc3-IRsw', 2, 20.23,
                                                                          2.765)
  np.testing.assert_array_equal(t.frames, [349, 350])
  np.testing.assert_allclose(t.boxes[0], [0.319, 0.067, 0.424, 0.753], rtol=1e-6)
  assert t.normalized
  t1 = tracks['id00012/x/00002']
  assert t1.boxes.shape == (3, 4) and not t1.normalized and t1.fv_conf is None
  assert voxceleb.voxceleb_identity('id10001/1zcIwhmdeo4/00001.mp4') == 'id10001'
  assert voxceleb.voxceleb_identity('train/id10005#WMh3ye5tBsE#003657#003994.mp4') == 'id10005'


@pytest.mark.parametrize('edit, message, line', [
    (('002317 224 80 130 131', '002317 224 80 130'), 'expected 5 fields', 7),
    (('002317 224 80 130 131', '002317 224 nan 130 131'), "box: expected a finite number, got 'nan'", 7),
    (('002317 224 80 130 131', '002317 224 80 0 131'), 'width and height must be > 0', 7),
    (('002317 224 80 130 131', '002316 224 80 130 131'), 'larger than the previous', 7),
    (('002317 224 80 130 131', '-02317 224 80 130 131'), 'expected >= 0', 7),
    (('002317 224 80 130 131', '2317.5 224 80 130 131'), "expected an integer, got '2317.5'", 7),
    (('Offset    : \t1', 'Offset    : \tinf'), "offset: expected an integer, got 'inf'", 3),
    (('FRAME\tX\tY\tW\tH\n002316 223 80 130 130\n002317 224 80 130 131\n002318 224 81 130 131\n', ''),
     'no "FRAME X Y W H" table', None),
])
def test_malformed_txt_raises_format_error_naming_file_and_line(tmp_path, edit, message, line):
  path = tmp_path / 'bad.txt'
  path.write_text(VOX1_TXT.replace(*edit))
  with pytest.raises(FormatError, match=message) as e:
    voxceleb.read_voxceleb_txt(path)
  assert e.value.path == str(path) and e.value.line == line


def test_real_metadata_csvs_read_and_ragged_rows_are_rejected(shared, tmp_path):
  meta = voxceleb.read_csv_rows(shared / 'formats' / 'voxceleb' / 'vox1_meta.csv')
  assert len(meta) > 1000 and meta[0]['ID'] == 'id10001' and {r['Set'] for r in meta} <= {'dev', 'test'}
  fomm = voxceleb.read_csv_rows(shared / 'formats' / 'voxceleb' / 'vox-metadata_fomm.csv')
  assert {'video_id', 'start', 'end', 'bbox', 'person_id'} <= set(fomm[0])
  assert all(int(r['end']) > int(r['start']) for r in fomm[:100])
  (tmp_path / 'ragged.csv').write_text('a,b,c\n1,2,3\n\n4,5\n')
  with pytest.raises(FormatError, match="expected 3 fields \\(the header's\\), got 2") as e:
    voxceleb.read_csv_rows(tmp_path / 'ragged.csv')
  assert e.value.line == 4
  (tmp_path / 'empty.csv').write_text('\n')
  with pytest.raises(FormatError, match='empty file'):
    voxceleb.read_csv_rows(tmp_path / 'empty.csv')


def _check_track(t):
  assert len(t.frames) == len(t.boxes) > 0 and t.boxes.shape[1] == 4
  assert np.all(np.diff(t.frames) > 0) and t.frames[0] >= 0
  assert np.all(np.isfinite(t.boxes)) and np.all(t.boxes[:, 2:] > 0)
  for v in (t.fv_conf, t.asd_conf):
    assert v is None or np.isfinite(v)


def _check_rows(rows):
  assert all(len(r) == len(rows[0]) and '' not in r for r in rows)


@pytest.mark.parametrize('text', [VOX1_TXT, VOX2_TXT])
def test_fuzzed_txt_files_read_correctly_or_raise_format_error(tmp_path, text):
  outcome = format_fuzz.fuzz(voxceleb.read_voxceleb_txt, text, _check_track, tmp_path, 'fuzz.txt', count=300)
  assert outcome['rejected'] > 50 and outcome['accepted'] > 20, outcome


def test_fuzzed_csv_files_read_correctly_or_raise_format_error(tmp_path):
  text = 'video_id,start,end,bbox\nWMh3ye5tBsE,3657,3994,624-48-1018-553\nabc,1,2,3-4-5-6\nxyz,7,8,9-9-9-9\n'
  outcome = format_fuzz.fuzz(voxceleb.read_csv_rows, text, _check_rows, tmp_path, 'fuzz.csv', count=300)
  assert outcome['rejected'] > 50 and outcome['accepted'] > 20, outcome
