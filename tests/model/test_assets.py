import pytest

from common import paths
from model import assets


def test_missing_assets_folder_gives_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setenv('C3DMM_ICT_FACE', str(tmp_path / 'nowhere'))
  with pytest.raises(FileNotFoundError, match='C3DMM_ICT_FACE'):
    assets.ict_face_dir()
  monkeypatch.setenv('C3DMM_ICT_FACE', str(tmp_path))
  with pytest.raises(FileNotFoundError, match='ict_face_area_template.npz'):
    assets.ict_face_dir()


def test_assets_are_package_data_independent_of_the_shared_folder(tmp_path, monkeypatch):
  monkeypatch.delenv('C3DMM_ICT_FACE', raising=False)
  monkeypatch.setenv('C3DMM_SHARED', str(tmp_path / 'absent'))
  folder = assets.ict_face_dir()
  assert folder == paths.REPO_ROOT / 'model' / 'ict_face'
  assert (folder / 'LICENSE').read_text().startswith('MIT')
  assert assets.load_face_area().vertices.shape == (assets.ICT_FACE_AREA_NUM_VERTICES, 3)


def test_shipped_ict_arrays_equal_the_shared_originals(shared_dir):
  for name in (assets.TEMPLATE_FILE, assets.EXPRESSION_FILE, *assets.IDENTITY_FILES):
    shipped = (assets.ict_face_dir() / name).read_bytes()
    assert shipped == (shared_dir / 'assets' / 'ict_face' / name).read_bytes(), name


def test_ict_deltas_have_the_documented_shapes():
  face = assets.load_face_area()
  assert face.vertices.shape == (assets.ICT_FACE_AREA_NUM_VERTICES, 3)
  assert face.landmarks68.shape == (68,)
  ident = assets.load_identity_deltas(3)
  assert ident.shape == (3, assets.ICT_FACE_AREA_NUM_VERTICES, 3)
  expr, names = assets.load_expression_deltas()
  assert expr.shape == (assets.NUM_ICT_EXPRESSIONS, assets.ICT_FACE_AREA_NUM_VERTICES, 3)
  assert len(names) == assets.NUM_ICT_EXPRESSIONS == 53
