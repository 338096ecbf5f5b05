"""Dataset readers on files written here in the public layouts and on the real files in shared/formats."""

import numpy as np
import pytest

from data import readers

VOX2_TXT = ('Identity  : \tid00012\nReference : \t_raOc3-IRsw\nOffset    : \t2\nFV Conf   : \t20.230\t(1)\n'
            'ASD Conf  : \t2.765\n\nFRAME \tX \tY \tW \tH\n000349 \t0.319 \t0.067 \t0.424 \t0.753\n'
            '000350 \t0.320 \t0.068 \t0.424 \t0.751\n')
VOX1_TXT = 'Identity  : \tA.J._Buckley\nReference : \t1zcIwhmdeo4\nOffset    : \t1\n\nFRAME\tX\tY\tW\tH\n' \
           '002316 223 80 130 130\n002317 224 80 130 131\n002318 224 81 130 131\n'


def test_voxceleb_txt(tmp_path):
  d = tmp_path / 'txt' / 'id00012' / '_raOc3-IRsw'
  d.mkdir(parents=True)
  (d / '00001.txt').write_text(VOX2_TXT)
  (tmp_path / 'txt' / 'id00012' / 'x').mkdir()
  (tmp_path / 'txt' / 'id00012' / 'x' / '00002.txt').write_text(VOX1_TXT)
  tracks = dict(readers.iter_voxceleb_txt_tree(tmp_path / 'txt'))
  t = tracks['id00012/_raOc3-IRsw/00001']
  assert (t.identity, t.reference, t.offset, t.fv_conf, t.asd_conf) == ('id00012', '_raOc3-IRsw', 2, 20.23,
                                                                          2.765)
  np.testing.assert_array_equal(t.frames, [349, 350])
  np.testing.assert_allclose(t.boxes[0], [0.319, 0.067, 0.424, 0.753], rtol=1e-6)
  assert t.normalized
  t1 = tracks['id00012/x/00002']
  assert t1.boxes.shape == (3, 4) and not t1.normalized and t1.fv_conf is None
  assert readers.voxceleb_identity('id10001/1zcIwhmdeo4/00001.mp4') == 'id10001'
  assert readers.voxceleb_identity('train/id10005#WMh3ye5tBsE#003657#003994.mp4') == 'id10005'


def test_voxceleb_real_csvs(shared):
  meta = readers.read_csv_rows(shared / 'formats' / 'voxceleb' / 'vox1_meta.csv')
  assert len(meta) > 1000 and meta[0]['ID'] == 'id10001' and {r['Set'] for r in meta} <= {'dev', 'test'}
  fomm = readers.read_csv_rows(shared / 'formats' / 'voxceleb' / 'vox-metadata_fomm.csv')
  assert {'video_id', 'start', 'end', 'bbox', 'person_id'} <= set(fomm[0])
  assert all(int(r['end']) > int(r['start']) for r in fomm[:100])


def test_emotionet_lists(tmp_path):
  aus = ['999'] * 60
  neutral = list(aus)
  for k in (0, 1, 3, 11):
    neutral[k] = '0'
  smile = list(neutral)
  smile[11] = '1'
  uncoded = list(aus)
  lines = ['http://cbcsnas01.ece.ohio-state.edu/EmotioNet/Images/dataFile_1001/a.jpg\t' + '\t'.join(neutral),
           'http://example.org/photos/b.jpg\t' + '\t'.join(smile),
           'http://example.org/c.jpg\t' + '\t'.join(uncoded), 'garbage line']
  (tmp_path / 'dataFile_1001.txt').write_text('\n'.join(lines) + '\n')
  e = readers.read_emotionet_au_file(tmp_path / 'dataFile_1001.txt')
  assert [x.is_neutral for x in e] == [True, False, False]
  assert e[0].relative_path() == 'dataFile_1001/a.jpg' and e[1].relative_path() == 'b.jpg'
  header = 'path,' + ','.join(f'AU{i}' for i in range(1, 61))
  (tmp_path / 'list.csv').write_text(header + '\nimgs/x.jpg,' + ','.join(neutral) + '\nimgs/y.jpg,' +
                                     ','.join(smile) + '\n')
  c = readers.read_emotionet_au_file(tmp_path / 'list.csv')
  assert [(x.relative_path(), x.is_neutral) for x in c] == [('imgs/x.jpg', True), ('imgs/y.jpg', False)]
  assert c[1].aus[11] == 1 and c[1].aus[20] == readers.NOT_CODED


def test_bu3dfe_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  v = rng.normal(0, 50, (30, 3))
  t = rng.integers(0, 30, (40, 3))
  uv = rng.uniform(0, 1, (30, 2))
  d = tmp_path / 'F0001'
  d.mkdir()
  readers.write_wrl(d / 'F0001_NE00WH_F3D.wrl', v, t, uv)
  readers.write_bnd(d / 'F0001_NE00WH_F3D.bnd', range(5), v[:5])
  (d / 'F0001_NE00WH_F2D.bmp').write_bytes(b'BM')
  m = readers.read_wrl(d / 'F0001_NE00WH_F3D.wrl')
  np.testing.assert_allclose(m.vertices, v, atol=1e-4)
  np.testing.assert_array_equal(m.triangles, t)
  np.testing.assert_allclose(m.texcoords, uv, atol=1e-6)
  idx, pts = readers.read_bnd(d / 'F0001_NE00WH_F3D.bnd')
  np.testing.assert_array_equal(idx, range(5))
  np.testing.assert_allclose(pts, v[:5], atol=1e-4)
  scans = readers.find_bu3dfe_scans(tmp_path)
  assert len(scans) == 1 and scans[0].image.name == 'F0001_NE00WH_F2D.bmp'
  n = readers.parse_bu3dfe_name('M0044_AN04BL_F3D.wrl')
  assert (n.subject, n.expression, n.intensity, n.race, n.kind, n.stem) == (
      'M0044', 'AN', 4, 'BL', 'F3D', 'M0044_AN04BL_F3D')
  with pytest.raises(ValueError):
    readers.parse_bu3dfe_name('face.wrl')


def test_wrl_polygons_and_multiple_points_per_line(tmp_path):
  text = ('#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [ 0 0 0, 1 0 0,\n'
          '1 1 0, 0 1 0 ] } coordIndex [ 0, 1, 2, 3, -1, 0 2 1 -1 ] } }\n')
  (tmp_path / 'q.wrl').write_text(text)
  m = readers.read_wrl(tmp_path / 'q.wrl')
  assert m.vertices.shape == (4, 3)
  np.testing.assert_array_equal(m.triangles, [[0, 1, 2], [0, 2, 3], [0, 2, 1]])
  (tmp_path / 'bad.wrl').write_text(text.replace('0 2 1 -1', '0 2 9 -1'))
  with pytest.raises(ValueError):
    readers.read_wrl(tmp_path / 'bad.wrl')


def test_lfw_real_pairs(shared, tmp_path):
  lfw = shared / 'formats' / 'lfw'
  pairs = readers.read_lfw_pairs(lfw / 'pairs.txt')
  assert len(pairs) == 6000 and sum(p.same for p in pairs) == 3000
  assert {p.fold for p in pairs} == set(range(10))
  assert readers.lfw_image_path(lfw, 'Anthony_Hopkins', 1).is_file()  # flat folder of the real pair
  (tmp_path / 'pairs.txt').write_text('1\t1\nA\t1\t2\nA\t1\tB\t3\n')
  (tmp_path / 'A').mkdir()
  p = readers.read_lfw_pairs(tmp_path / 'pairs.txt')
  assert p[0].same and not p[1].same and p[1].index_b == 3
  assert readers.lfw_image_path(tmp_path, 'A', 2) == tmp_path / 'A' / 'A_0002.jpg'
  (tmp_path / 'short.txt').write_text('1\t2\nA\t1\t2\n')
  with pytest.raises(ValueError):
    readers.read_lfw_pairs(tmp_path / 'short.txt')
