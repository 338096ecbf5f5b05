"""eval.reconstruct end to end on a shared photo and the shared video, with a tiny untrained model."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from data import media
from eval import metrics
from eval import reconstruct
from eval import smoothing
from model import export
from model import reconstruction

OPTS = reconstruct.Options(min_face_size=100, texture_size=128, progress=False)


def _obj_counts(path):
  lines = pathlib.Path(path).read_text().splitlines()
  return sum(l.startswith('v ') for l in lines), sum(l.startswith('f ') for l in lines)


def _counts_add_up(summary):
  for entry in summary['files'].values():
    assert entry['frames_seen'] == entry['frames_reconstructed'] + sum(entry['skipped'].values())
  assert summary['frames_seen'] == summary['frames_reconstructed'] + sum(summary['skipped'].values())


@pytest.fixture(scope='module')
def photo_result(tiny_model, photo, tmp_path_factory):
  out = tmp_path_factory.mktemp('photo')
  return out, reconstruct.run(tiny_model, photo, out, OPTS)


def test_photo_writes_meshes_that_load_with_the_template_topology(tiny_model, photo_result):
  out, summary = photo_result
  assert summary['frames_reconstructed'] == 1 and summary['faces'] == 1
  _counts_add_up(summary)
  face = pathlib.Path(summary['files'][next(iter(summary['files']))]['outputs'][0])
  tpl = tiny_model.template
  for name in ('full', 'identity', 'expression'):
    v, t, c = export.read_ply(face / f'{name}.ply')
    assert v.shape == (tpl.num_vertices, 3) and c is not None
    np.testing.assert_array_equal(t, tpl.triangles)
    assert _obj_counts(face / f'{name}.obj') == (tpl.num_vertices, tpl.num_triangles)
  full, _, _ = export.read_ply(face / 'full.ply')
  ident, _, _ = export.read_ply(face / 'identity.ply')
  expr, _, _ = export.read_ply(face / 'expression.ply')
  mean = tiny_model.face_model.mean_vertices.numpy()
  # full = identity + expression deformation; expression = mean + the same deformation.
  np.testing.assert_allclose(expr - mean, full - ident, atol=1e-3)
  params = np.load(face / 'params.npz')
  assert params['delta'].shape == (1, tiny_model.model_config.num_expression)
  assert json.loads((face / 'params.json').read_text())['alpha'] == pytest.approx(params['alpha'].tolist())


def test_params_json_places_the_face_in_input_image_pixels(tiny_model, photo_result, photo):
  from data import face as face_lib
  from data import face_frames
  from eval import landmarks
  _, summary = photo_result
  face = pathlib.Path(summary['files'][next(iter(summary['files']))]['outputs'][0])
  p = json.loads((face / 'params.json').read_text())
  lm = np.asarray(p['landmarks68_image_px'])
  assert lm.shape == (68, 2)
  # The detection of the input (dlib, as eval.reconstruct runs it) and the crop square around it.
  image = media.load_image(photo)[0]
  det = face_lib.FaceAnalyzer(min_face_size=OPTS.min_face_size).detect(image)[0]
  np.testing.assert_allclose(p['face_box'], det.box, atol=1e-3)
  x0, y0, side = p['crop_box']
  assert p['crop_box_ltrb'] == pytest.approx([x0, y0, x0 + side, y0 + side])
  assert x0 <= det.box[0] and det.box[2] <= x0 + side and y0 <= det.box[1] and det.box[3] <= y0 + side
  # The landmarks are the reconstruction's projection (decoded from the written parameters), in image pixels.
  keys = ('alpha', 'beta', 'delta', 'sh', 'angles', 'translation')
  params = {k: np.asarray(p[k], np.float32) for k in keys}
  decoded = reconstruction.decode_frames(tiny_model, params, keys=('landmarks2d',))
  expected = face_lib.from_crop_coords(decoded['landmarks2d'][0], p['crop_box'])
  np.testing.assert_allclose(lm, expected, atol=0.05)
  # The same placement of a meaningful pose: the mean face with its pose fitted to the crop's landmarks
  # lands on dlib's detections in the input image (inner 51 points within 8% of the eye distance).
  fc = face_frames.image_faces(photo, face_lib.FaceAnalyzer(min_face_size=OPTS.min_face_size),
                               OPTS.min_face_size)[0]
  fit = landmarks.template_fitter(tiny_model).reconstruct(None, fc.frame.landmarks[None].astype(np.float64),
                                                           image_size=(240, 240))
  tpl = landmarks.project_landmarks68(tiny_model, fit.vertices, fit.angles, fit.translation)[0]
  placed = reconstruct.image_placement(tpl, fc.frame.crop_box, fc.face_box, 240)
  inner = metrics.INNER_LANDMARKS
  assert metrics.landmark_nme(placed['landmarks68_image_px'], det.landmarks, points=inner) < 0.08
  np.testing.assert_allclose(placed['face_box'], p['face_box'])


def test_textured_obj_references_an_existing_texture(photo_result):
  _, summary = photo_result
  face = pathlib.Path(summary['files'][next(iter(summary['files']))]['outputs'][0])
  obj = (face / 'textured.obj').read_text().splitlines()
  mtl = face / next(l.split()[1] for l in obj if l.startswith('mtllib'))
  texture = face / next(l.split()[1] for l in mtl.read_text().splitlines() if l.startswith('map_Kd'))
  from PIL import Image
  with Image.open(texture) as im:
    assert im.size == (OPTS.texture_size, OPTS.texture_size)
    assert np.asarray(im).std() > 0  # the albedo, not a blank image


def test_photo_glb_has_the_expression_basis_as_morph_targets(tiny_model, photo_result):
  import pygltflib
  _, summary = photo_result
  face = pathlib.Path(summary['files'][next(iter(summary['files']))]['outputs'][0])
  g = pygltflib.GLTF2().load(str(face / 'model.glb'))
  prim = g.meshes[0].primitives[0]
  assert len(prim.targets) == tiny_model.model_config.num_expression
  params = np.load(face / 'params.npz')
  np.testing.assert_allclose(g.meshes[0].weights, params['delta'][0], atol=1e-6)


def test_overlay_picture_has_three_panels(photo_result):
  from PIL import Image
  _, summary = photo_result
  face = pathlib.Path(summary['files'][next(iter(summary['files']))]['outputs'][0])
  with Image.open(face / 'overlay.png') as im:
    assert im.size == (3 * 240, 240)


@pytest.fixture(scope='module')
def video_result(tiny_model, video, tmp_path_factory):
  out = tmp_path_factory.mktemp('video')
  opts = reconstruct.Options(min_face_size=100, texture_size=64, max_frames=10, stride=2, progress=False)
  return out, reconstruct.run(tiny_model, video, out, opts)


def test_video_writes_per_frame_parameters_and_an_overlay_video(tiny_model, video_result):
  import av
  _, summary = video_result
  _counts_add_up(summary)
  entry = summary['files'][next(iter(summary['files']))]
  assert entry['frames_seen'] == 10 and entry['frames_reconstructed'] > 3
  face = pathlib.Path(entry['outputs'][0])
  params = np.load(face / 'params.npz')
  t = entry['frames_reconstructed']
  assert params['delta'].shape == (t, tiny_model.model_config.num_expression)
  assert np.all(np.diff(params['frame_index']) % 2 == 0)
  assert params['landmarks68_image_px'].shape == (t, 68, 2) and params['face_box'].shape == (t, 4)
  assert params['crop_box'].shape == (t, 3) and params['crop_box_ltrb'].shape == (t, 4)
  assert np.all(params['landmarks68_image_px'][..., 0] < 512 + 240)  # input pixels (512 px clip), not crop
  with av.open(str(face / 'overlay.mp4')) as c:
    frames = [f for f in c.decode(video=0)]
  assert len(frames) == t and (frames[0].width, frames[0].height) == (720, 240)
  import pygltflib
  g = pygltflib.GLTF2().load(str(face / 'model.glb'))
  assert len(g.animations) == 1


def test_smoothing_lowers_the_measured_jitter_on_the_video(video_result):
  _, summary = video_result
  entry = summary['files'][next(iter(summary['files']))]
  face = pathlib.Path(entry['outputs'][0])
  params = np.load(face / 'params.npz')
  for k in ('angles', 'translation', 'delta'):
    raw = params[f'raw_{k}'].reshape(len(params[k]), -1)
    assert smoothing.jitter(params[k].reshape(len(raw), -1)) < smoothing.jitter(raw)
    assert entry['jitter'][k]['smoothed'] < entry['jitter'][k]['raw']


def test_folder_without_faces_reports_each_skip(tiny_model, tmp_path):
  from PIL import Image
  folder = tmp_path / 'in'
  folder.mkdir()
  Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(folder / 'blank.png')
  (folder / 'broken.jpg').write_bytes(b'not a jpeg at all')
  (folder / 'empty.mp4').write_bytes(b'')
  (folder / 'notes.txt').write_text('ignored')
  summary = reconstruct.run(tiny_model, folder, tmp_path / 'out', OPTS)
  assert summary['frames_reconstructed'] == 0 and len(summary['files']) == 3
  assert summary['skipped'] == {'no_face': 1, media.UNREADABLE_IMAGE: 1, media.EMPTY_VIDEO: 1}
  assert json.loads((tmp_path / 'out' / 'summary.json').read_text())['skipped'] == summary['skipped']


def test_bad_inputs_raise_clear_errors(tiny_model, tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    reconstruct.run(tiny_model, tmp_path / 'missing.jpg', tmp_path / 'out', OPTS)
  (tmp_path / 'a.txt').write_text('x')
  with pytest.raises(ValueError, match='unsupported file type'):
    reconstruct.run(tiny_model, tmp_path / 'a.txt', tmp_path / 'out', OPTS)
  with pytest.raises(reconstruction.NotAModelError, match='config.json'):
    reconstruction.load_autoencoder(tmp_path)
  np.savez(tmp_path / 'export.npz', x=np.zeros(1))
  with pytest.raises(reconstruction.NotAModelError, match='no encoder'):
    reconstruction.load_autoencoder(tmp_path / 'export.npz')


def test_cli_exits_with_a_message_for_a_path_that_is_not_a_model(tmp_path, photo):
  res = subprocess.run([sys.executable, '-m', 'eval.reconstruct', f'--model={tmp_path}', f'--input={photo}',
                        f'--output={tmp_path / "out"}'], capture_output=True, text=True, timeout=300)
  assert res.returncode == 2
  assert 'is not a usable run folder' in res.stderr and 'config.json' in res.stderr


def test_fit_pose_puts_the_reconstructions_landmarks_on_the_detections(photo):
  from data import face as face_lib
  from data import face_frames
  ae = reconstruction.load_autoencoder(None)  # the shipped model (a face-sized mesh to fit)
  fc = face_frames.image_faces(photo, face_lib.FaceAnalyzer(min_face_size=OPTS.min_face_size),
                               OPTS.min_face_size)[0]
  _, enc, dec_enc = reconstruct.reconstruct_face(ae, fc)
  _, fit, dec_fit = reconstruct.reconstruct_face(ae, fc, fit_pose=True)
  inner = metrics.INNER_LANDMARKS
  err = lambda d: metrics.landmark_nme(d['landmarks2d'][0], fc.frame.landmarks, points=inner)  # noqa: E731
  # The fitted pose puts the inner landmarks closer to the detections than the encoder's pose does.
  assert err(dec_fit) < 0.8 * err(dec_enc) and err(dec_fit) < 0.045
  # Same mesh (only the rigid pose changed), the encoder's pose kept beside the fitted one.
  np.testing.assert_allclose(dec_fit['vertices'], dec_enc['vertices'], atol=1e-5)
  np.testing.assert_allclose(fit['encoder_angles'], enc['angles'])
  assert not np.allclose(fit['angles'], enc['angles'])
