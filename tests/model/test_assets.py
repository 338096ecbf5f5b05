import pytest

from model import assets


def test_missing_assets_folder_gives_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.setenv('C3DMM_ICT_FACE', str(tmp_path / 'nowhere'))
  with pytest.raises(FileNotFoundError, match='C3DMM_ICT_FACE'):
    assets.ict_face_dir()
  monkeypatch.setenv('C3DMM_ICT_FACE', str(tmp_path))
  with pytest.raises(FileNotFoundError, match='ict_face_area_template.npz'):
    assets.ict_face_dir()


def test_missing_shared_folder_names_the_environment_variables(tmp_path, monkeypatch):
  monkeypatch.delenv('C3DMM_ICT_FACE', raising=False)
  monkeypatch.setenv('C3DMM_SHARED', str(tmp_path / 'absent'))
  with pytest.raises(FileNotFoundError, match='C3DMM_SHARED'):
    assets.ict_face_dir()


def test_ict_deltas_have_the_documented_shapes():
  face = assets.load_face_area()
  assert face.vertices.shape == (assets.ICT_FACE_AREA_NUM_VERTICES, 3)
  assert face.landmarks68.shape == (68,)
  ident = assets.load_identity_deltas(3)
  assert ident.shape == (3, assets.ICT_FACE_AREA_NUM_VERTICES, 3)
  expr, names = assets.load_expression_deltas()
  assert expr.shape == (53, assets.ICT_FACE_AREA_NUM_VERTICES, 3) and len(names) == 53
