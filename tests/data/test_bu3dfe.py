"""BU-3DFE layout: VRML meshes, .bnd landmarks, names and scans; malformed files raise FormatError."""

import numpy as np
import pytest

from common.errors import FormatError
from data import bu3dfe
from tests import format_fuzz

QUAD_WRL = ('#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [ 0 0 0, 1 0 0,\n'
            '1 1 0, 0 1 0 ] } coordIndex [ 0, 1, 2, 3, -1, 0 2 1 -1 ] } }\n')


def _mesh_files(tmp_path, with_uv=True):
  rng = np.random.default_rng(0)
  v = rng.normal(0, 50, (30, 3))
  t = rng.integers(0, 30, (40, 3))
  uv = rng.uniform(0, 1, (30, 2))
  d = tmp_path / 'F0001'
  d.mkdir(exist_ok=True)
  bu3dfe.write_wrl(d / 'F0001_NE00WH_F3D.wrl', v, t, uv if with_uv else None)
  bu3dfe.write_bnd(d / 'F0001_NE00WH_F3D.bnd', range(5), v[:5])
  return d, v, t, uv


def test_wrl_and_bnd_round_trip_and_scan_discovery(tmp_path):
  d, v, t, uv = _mesh_files(tmp_path)
  (d / 'F0001_NE00WH_F2D.bmp').write_bytes(b'BM')
  m = bu3dfe.read_wrl(d / 'F0001_NE00WH_F3D.wrl')
  np.testing.assert_allclose(m.vertices, v, atol=1e-4)
  np.testing.assert_array_equal(m.triangles, t)
  np.testing.assert_allclose(m.texcoords, uv, atol=1e-6)
  np.testing.assert_array_equal(m.tex_triangles, t)
  idx, pts = bu3dfe.read_bnd(d / 'F0001_NE00WH_F3D.bnd')
  np.testing.assert_array_equal(idx, range(5))
  np.testing.assert_allclose(pts, v[:5], atol=1e-4)
  scans = bu3dfe.find_bu3dfe_scans(tmp_path)
  assert len(scans) == 1 and scans[0].image.name == 'F0001_NE00WH_F2D.bmp'
  data = bu3dfe.read_scan(scans[0], num_landmarks=5)
  np.testing.assert_allclose(data.mesh.vertices[data.landmark_indices], data.landmarks, atol=1e-4)
  with pytest.raises(FormatError, match='expected 83 landmark lines, got 5'):
    bu3dfe.read_scan(scans[0])


def test_names_parse_and_invalid_codes_are_rejected(tmp_path):
  n = bu3dfe.parse_bu3dfe_name('M0044_AN04BL_F3D.wrl')
  assert (n.subject, n.expression, n.intensity, n.race, n.kind, n.stem) == (
      'M0044', 'AN', 4, 'BL', 'F3D', 'M0044_AN04BL_F3D')
  for bad in ('face.wrl', 'F0001_XX01WH_F3D', 'F0001_AN05WH_F3D', 'F0001_NE01WH_F3D', 'F0001_AN00WH_F3D',
              'F0001_AN01ZZ_F3D'):
    with pytest.raises(FormatError):
      bu3dfe.parse_bu3dfe_name(bad)
  (tmp_path / 'F0001_XX01WH_F3D.wrl').write_text(QUAD_WRL)  # not a BU-3DFE name: not a scan
  assert bu3dfe.find_bu3dfe_scans(tmp_path) == []


def test_wrl_polygons_are_fan_triangulated_from_several_points_per_line(tmp_path):
  (tmp_path / 'q.wrl').write_text(QUAD_WRL)
  m = bu3dfe.read_wrl(tmp_path / 'q.wrl')
  assert m.vertices.shape == (4, 3)
  np.testing.assert_array_equal(m.triangles, [[0, 1, 2], [0, 2, 3], [0, 2, 1]])


@pytest.mark.parametrize('edit, message, line', [
    (('coord Coordinate { point [ 0 0 0, 1 0 0,\n1 1 0, 0 1 0 ] }', 'coord Coordinate { }'),
     'Coordinate node has no "point', 2),
    (('Coordinate', 'Coord'), 'no "Coordinate', None),
    (('1 1 0, 0 1 0 ]', '1 nan 0, 0 1 0 ]'), "expected a finite number, got 'nan'", 3),
    (('1 1 0, 0 1 0 ]', '1 1 0, 0 1 ]'), 'multiple of 3', 2),
    (('0 2 1 -1', '0 2 1 -2'), 'index -2 out of range', 3),
    (('0 2 1 -1', '0 2 9 -1'), 'index 9 out of range', 3),
    (('0 2 1 -1', '0 2 1.5 -1'), "expected an integer, got '1.5'", 3),
    (('0 2 1 -1', '0 2 -1'), 'a polygon with 2 vertices', 3),
    (('1 0 0,\n', '1 0 0 1e999,\n'), "expected a finite number, got '1e999'", 2),
    (('] } }', '} }'), 'unterminated coordIndex block', 3),
])
def test_malformed_wrl_raises_format_error_naming_file_and_line(tmp_path, edit, message, line):
  path = tmp_path / 'bad.wrl'
  path.write_text(QUAD_WRL.replace(*edit))
  with pytest.raises(FormatError, match=message) as e:
    bu3dfe.read_wrl(path)
  assert e.value.path == str(path) and e.value.line == line
  assert str(e.value).startswith(f'{path}:{line}:' if line else f'{path}:')


def test_wrl_texture_indices_must_lie_within_the_texture_points(tmp_path):
  d, _, _, _ = _mesh_files(tmp_path)
  text = (d / 'F0001_NE00WH_F3D.wrl').read_text()
  head, tail = text.split('texCoordIndex [')
  (tmp_path / 'tex.wrl').write_text(head + 'texCoordIndex [\n     0, 1, 30, -1,' + tail.split('-1,', 1)[1])
  with pytest.raises(FormatError, match='texCoordIndex: index 30 out of range; expected 0..29'):
    bu3dfe.read_wrl(tmp_path / 'tex.wrl')
  (tmp_path / 'fewer.wrl').write_text(head + 'texCoordIndex [\n' + tail.split('-1,', 1)[1])
  with pytest.raises(FormatError, match='texCoordIndex has 39 triangles, coordIndex 40'):
    bu3dfe.read_wrl(tmp_path / 'fewer.wrl')
  (tmp_path / 'uvnan.wrl').write_text(text.replace('texCoord TextureCoordinate {\n     point [\n      ',
                                                   'texCoord TextureCoordinate {\n     point [\n      nan '))
  with pytest.raises(FormatError, match='TextureCoordinate point'):
    bu3dfe.read_wrl(tmp_path / 'uvnan.wrl')


@pytest.mark.parametrize('line2, message', [
    ('1\t\t2.0\t3.0', 'expected 4 fields'),  # truncated
    ('-1\t\t2.0\t3.0\t4.0', "landmark index '-1'"),
    ('1.5\t\t2.0\t3.0\t4.0', "landmark index '1.5'"),
    ('nan\t\t2.0\t3.0\t4.0', "expected a finite number, got 'nan'"),
    ('1\t\t2.0\tinf\t4.0', "expected a finite number, got 'inf'"),
    ('1\t\t2.0\t3.0\t4.0\t5.0', 'expected 4 fields'),
])
def test_malformed_bnd_raises_format_error_naming_the_line(tmp_path, line2, message):
  path = tmp_path / 'x.bnd'
  path.write_text(f'0\t\t1.0\t2.0\t3.0\n{line2}\n2\t\t1.0\t2.0\t3.0\n')
  with pytest.raises(FormatError, match=message) as e:
    bu3dfe.read_bnd(path)
  assert e.value.line == 2 and str(e.value).startswith(f'{path}:2:')
  path.write_text('\n\n')
  with pytest.raises(FormatError, match='at least 1'):
    bu3dfe.read_bnd(path)


def test_bnd_indices_past_the_mesh_are_rejected_by_read_scan(tmp_path):
  d, v, _, _ = _mesh_files(tmp_path)
  bu3dfe.write_bnd(d / 'F0001_NE00WH_F3D.bnd', [0, 1, 30], v[:3])
  with pytest.raises(FormatError, match='landmark index 30 past the 30 vertices'):
    bu3dfe.read_scan(bu3dfe.find_bu3dfe_scans(tmp_path)[0], num_landmarks=None)


def test_writers_refuse_arrays_they_cannot_write(tmp_path):
  v = np.zeros((3, 3))
  with pytest.raises(ValueError, match='triangles'):
    bu3dfe.write_wrl(tmp_path / 'a.wrl', v, [[0, 1, 3]])
  with pytest.raises(ValueError, match='vertices'):
    bu3dfe.write_wrl(tmp_path / 'a.wrl', np.full((3, 3), np.nan), [[0, 1, 2]])
  with pytest.raises(ValueError, match='non-negative'):
    bu3dfe.write_bnd(tmp_path / 'a.bnd', [-1], v[:1])


def _check_mesh(m):
  assert m.vertices.ndim == 2 and m.vertices.shape[1] == 3 and len(m.vertices) > 0
  assert np.all(np.isfinite(m.vertices))
  assert m.triangles.size == 0 or (m.triangles.min() >= 0 and m.triangles.max() < len(m.vertices))
  if m.texcoords is not None:
    assert np.all(np.isfinite(m.texcoords))
    if m.tex_triangles is not None:
      assert m.tex_triangles.shape == m.triangles.shape
      assert m.tex_triangles.size == 0 or (m.tex_triangles.min() >= 0 and
                                           m.tex_triangles.max() < len(m.texcoords))


def _check_bnd(result):
  idx, pts = result
  assert len(idx) == len(pts) > 0 and idx.min() >= 0 and np.all(np.isfinite(pts))


def test_fuzzed_wrl_files_read_correctly_or_raise_format_error(tmp_path):
  rng = np.random.default_rng(1)
  d = tmp_path / 'src'
  d.mkdir()
  bu3dfe.write_wrl(d / 'm.wrl', rng.normal(0, 50, (6, 3)), rng.integers(0, 6, (5, 3)),
                   rng.uniform(0, 1, (6, 2)))
  for valid in ((d / 'm.wrl').read_text(), QUAD_WRL):
    outcome = format_fuzz.fuzz(bu3dfe.read_wrl, valid, _check_mesh, tmp_path, 'fuzz.wrl', count=400)
    assert outcome['rejected'] > 100 and outcome['accepted'] > 20, outcome


def test_fuzzed_bnd_files_read_correctly_or_raise_format_error(tmp_path):
  rng = np.random.default_rng(2)
  bu3dfe.write_bnd(tmp_path / 'src.bnd', range(8), rng.normal(0, 50, (8, 3)))
  outcome = format_fuzz.fuzz(bu3dfe.read_bnd, (tmp_path / 'src.bnd').read_text(), _check_bnd, tmp_path,
                             'fuzz.bnd', count=400)
  assert outcome['rejected'] > 100 and outcome['accepted'] > 20, outcome
