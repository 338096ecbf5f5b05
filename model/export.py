"""Export: the whole face model as one .npz, meshes as OBJ / PLY, UV-textured OBJ with a baked albedo.

``save_model(path, face_model, template, graph)`` writes mean geometry and albedo, the three bases,
topology, texture coordinates, the deformation graph and the semantics; ``load_model(path)`` rebuilds the
``Template``, ``DeformationGraph`` and ``FaceModel`` bit-exactly (float32 everywhere).
"""

from __future__ import annotations

import json
import pathlib
import typing
import zipfile

import numpy as np
import scipy.ndimage
import scipy.sparse as sp
from PIL import Image

from common.errors import FormatError
from model import deformation_graph as graph_lib
from model import face_model as face_model_lib
from model import semantics as semantics_lib
from model import template as template_lib

FORMAT_VERSION = 1


class LoadedModel(typing.NamedTuple):
  template: template_lib.Template
  graph: graph_lib.DeformationGraph
  face_model: face_model_lib.FaceModel


def _put_sparse(d: dict, name: str, m: sp.spmatrix) -> None:
  coo = m.tocoo()
  d[f'{name}_row'], d[f'{name}_col'] = coo.row.astype(np.int32), coo.col.astype(np.int32)
  d[f'{name}_val'], d[f'{name}_shape'] = coo.data.astype(np.float32), np.asarray(coo.shape, np.int64)


def _get_sparse(d, name: str) -> sp.csr_matrix:
  return sp.csr_matrix((d[f'{name}_val'], (d[f'{name}_row'], d[f'{name}_col'])),
                       shape=tuple(int(s) for s in d[f'{name}_shape']))


def save_model(path, face_model: face_model_lib.FaceModel, template: template_lib.Template,
               graph: graph_lib.DeformationGraph) -> pathlib.Path:
  """Writes the model to one .npz file (see the module docstring); returns the path.

  Arrays: mean_vertices [N, 3] cm, mean_albedo [N, 3], M_gid [3G, m_i], M_gexp [3G, m_e], M_R [3N, m_r],
  M_gid_perp [3G, m_i] (the orthogonalized identity basis actually used), triangles, uv, triangle_uv,
  graph (node_vertices, node_positions, U as COO, edges), semantics (landmarks, landmarks66,
  jaw_candidates, triangle_regions, lip contours), ict_to_template / base_to_template (COO), config JSON.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  sem = template.semantics
  d = dict(
      format_version=np.int64(FORMAT_VERSION),
      mean_vertices=face_model.mean_vertices.numpy(), mean_albedo=face_model.mean_albedo.numpy(),
      M_gid=face_model.m_gid.numpy(), M_gexp=face_model.m_gexp.numpy(), M_R=face_model.m_r.numpy(),
      M_gid_perp=face_model.identity_basis().numpy(),
      template_vertices=template.vertices, triangles=template.triangles, uv=template.uv,
      triangle_uv=template.triangle_uv,
      node_vertices=graph.node_vertices, node_positions=graph.node_positions, graph_edges=graph.edges,
      landmarks=sem.landmarks, landmarks66=np.asarray(semantics_lib.LANDMARKS66, np.int32),
      jaw_candidates=sem.jaw_candidates, triangle_regions=sem.triangle_regions,
      upper_lip_contour=sem.upper_lip_contour, lower_lip_contour=sem.lower_lip_contour,
      config=np.asarray(json.dumps(dict(
          region=template.region, subdivision_level=template.subdivision_level,
          num_identity=face_model.num_identity, num_expression=face_model.num_expression,
          num_albedo=face_model.num_albedo, orthogonalize=face_model.orthogonalize,
          units='cm', basis_layout='row 3*i+c: coordinate/channel c of node/vertex i'))))
  _put_sparse(d, 'U', graph.upsampling)
  _put_sparse(d, 'ict_to_template', template.ict_to_template)
  _put_sparse(d, 'base_to_template', template.base_to_template)
  tmp = path.with_name(path.name + '.tmp.npz')
  np.savez_compressed(tmp, **d)
  tmp.replace(path)
  return path


def _check_model_arrays(path, d) -> None:
  """Shapes, finiteness and index ranges of a model file's arrays (FormatError names the first bad one)."""
  def arr(key):
    if key not in d:
      raise FormatError(path, f'missing array {key!r}; not a model written by save_model')
    return d[key]

  v, b = arr('template_vertices'), arr('base_to_template_shape')
  if v.ndim != 2 or b.shape != (2,):
    raise FormatError(path, f'template_vertices: expected [N, 3], got {v.shape}')
  n, n0 = len(v), int(b[1])
  for key in ('template_vertices', 'mean_vertices', 'mean_albedo'):
    a = arr(key)
    if a.shape != (n, 3) or not np.issubdtype(a.dtype, np.floating):
      raise FormatError(path, f'{key}: expected float [{n}, 3], got {a.dtype} {a.shape}')
  for key in ('template_vertices', 'mean_vertices', 'mean_albedo', 'M_gid', 'M_gexp', 'M_R', 'uv',
              'node_positions', 'U_val', 'ict_to_template_val', 'base_to_template_val'):
    a = arr(key)
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
      raise FormatError(path, f'{key}: expected finite numbers ({a.dtype} {a.shape})')
  num_nodes = len(arr('node_positions'))
  for key, width, limit in (('triangles', 3, n), ('triangle_uv', 3, len(arr('uv'))), ('landmarks', None, n),
                            ('jaw_candidates', None, n), ('upper_lip_contour', None, n),
                            ('lower_lip_contour', None, n), ('node_vertices', None, n0),
                            ('graph_edges', 2, num_nodes)):
    a = arr(key)
    if not np.issubdtype(a.dtype, np.integer) or (width is not None and (a.ndim != 2 or a.shape[1] != width)):
      raise FormatError(path, f'{key}: expected integer [..., {width or ""}], got {a.dtype} {a.shape}')
    if a.size and (a.min() < 0 or (limit is not None and a.max() >= limit)):
      raise FormatError(path, f'{key}: indices {int(a.min())}..{int(a.max())} out of range; expected '
                        f'0..{(limit or 2**31) - 1}')
  tris = arr('triangles')
  if arr('triangle_uv').shape != tris.shape or arr('triangle_regions').shape != tris.shape[:1]:
    raise FormatError(path, f'triangle_uv {arr("triangle_uv").shape} and triangle_regions '
                      f'{arr("triangle_regions").shape} must match triangles {arr("triangles").shape}')
  for name, rows, cols in (('U', n, num_nodes), ('ict_to_template', n, None), ('base_to_template', n, None)):
    shape, r, c = arr(f'{name}_shape'), arr(f'{name}_row'), arr(f'{name}_col')
    if (shape.shape != (2,) or int(shape[0]) != rows or (cols is not None and int(shape[1]) != cols) or
        r.shape != c.shape or r.shape != arr(f'{name}_val').shape or
        (r.size and (r.min() < 0 or r.max() >= shape[0] or c.min() < 0 or c.max() >= shape[1]))):
      raise FormatError(path, f'{name}: sparse matrix entries or shape {shape.tolist()} do not fit '
                        f'[{rows}, {cols if cols is not None else "*"}]')


def load_model(path) -> LoadedModel:
  """Loads a model written by ``save_model``.

  Raises:
    FormatError (``common.errors``; a ValueError): not an .npz, an unsupported format version, a missing
      array, non-finite geometry / albedo / bases, or indices (triangles, landmarks, graph edges, sparse
      maps) outside the arrays they index.
  """
  try:
    d = np.load(path)
  except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
    if isinstance(e, FileNotFoundError):
      raise
    raise FormatError(path, f'not a model .npz ({e})') from None
  if not isinstance(d, np.lib.npyio.NpzFile):
    raise FormatError(path, f'not a model .npz (a single {type(d).__name__})')
  with d:
    try:
      version = int(d['format_version'])
      config = json.loads(str(d['config']))
      if not isinstance(config, dict):
        raise ValueError('config is not a JSON object')
    except (KeyError, ValueError, TypeError) as e:
      raise FormatError(path, f'no readable format_version / config ({e})') from None
    if version != FORMAT_VERSION:
      raise FormatError(path, f'unsupported format version {version}; expected {FORMAT_VERSION}')
    d = {k: d[k] for k in d.files}
  _check_model_arrays(path, d)
  try:
    sem = semantics_lib.Semantics(
        landmarks=d['landmarks'], jaw_candidates=d['jaw_candidates'],
        triangle_regions=d['triangle_regions'], upper_lip_contour=d['upper_lip_contour'],
        lower_lip_contour=d['lower_lip_contour'])
    template = template_lib.Template(
        vertices=d['template_vertices'], triangles=d['triangles'], uv=d['uv'],
        triangle_uv=d['triangle_uv'], semantics=sem,
        ict_to_template=_get_sparse(d, 'ict_to_template'),
        base_to_template=_get_sparse(d, 'base_to_template'),
        region=config['region'], subdivision_level=int(config['subdivision_level']))
    graph = graph_lib.DeformationGraph(
        node_vertices=d['node_vertices'], node_positions=d['node_positions'],
        upsampling=_get_sparse(d, 'U'), edges=d['graph_edges'])
    model = face_model_lib.FaceModel(
        d['mean_vertices'], graph.upsampling, graph.edges, num_identity=config['num_identity'],
        num_expression=config['num_expression'], num_albedo=config['num_albedo'],
        mean_albedo=d['mean_albedo'], orthogonalize=config['orthogonalize'], init_stddev=0.0)
    model.m_gid.assign(d['M_gid'])
    model.m_gexp.assign(d['M_gexp'])
    model.m_r.assign(d['M_R'])
  except (KeyError, ValueError, TypeError) as e:  # config entries, basis shapes that do not fit the config
    if isinstance(e, FormatError):
      raise
    raise FormatError(path, f'inconsistent model ({type(e).__name__}: {e})') from None
  return LoadedModel(template, graph, model)


def _to_u8(colors: np.ndarray) -> np.ndarray:
  return np.round(np.clip(np.asarray(colors, np.float64), 0.0, 1.0) * 255).astype(np.uint8)


def write_obj(path, vertices: np.ndarray, triangles: np.ndarray,
              colors: typing.Optional[np.ndarray] = None) -> pathlib.Path:
  """OBJ with optional per-vertex colours (the common ``v x y z r g b`` extension, colours in [0, 1])."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  v = np.asarray(vertices, np.float64)
  rows = np.concatenate([v, np.clip(colors, 0, 1)], 1) if colors is not None else v
  fmt = 'v' + ' %.6f' * rows.shape[1]
  with open(path, 'w') as f:
    f.write('# complete3dmm mesh, units: cm\n')
    np.savetxt(f, rows, fmt=fmt)
    np.savetxt(f, np.asarray(triangles) + 1, fmt='f %d %d %d')
  return path


def write_ply(path, vertices: np.ndarray, triangles: np.ndarray,
              colors: typing.Optional[np.ndarray] = None) -> pathlib.Path:
  """Binary little-endian PLY with optional uchar RGB vertex colours (colours in [0, 1])."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  n, t = len(vertices), len(triangles)
  fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
  if colors is not None:
    fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
  vert = np.empty(n, fields)
  vert['x'], vert['y'], vert['z'] = np.asarray(vertices, np.float32).T
  if colors is not None:
    vert['red'], vert['green'], vert['blue'] = _to_u8(colors).T
  face = np.empty(t, [('n', 'u1'), ('idx', '<i4', (3,))])
  face['n'], face['idx'] = 3, triangles
  header = ['ply', 'format binary_little_endian 1.0', 'comment units: cm', f'element vertex {n}',
            'property float x', 'property float y', 'property float z']
  if colors is not None:
    header += ['property uchar red', 'property uchar green', 'property uchar blue']
  header += [f'element face {t}', 'property list uchar int vertex_indices', 'end_header']
  with open(path, 'wb') as f:
    f.write(('\n'.join(header) + '\n').encode('ascii'))
    f.write(vert.tobytes())
    f.write(face.tobytes())
  return path


def read_ply(path) -> typing.Tuple[np.ndarray, np.ndarray, typing.Optional[np.ndarray]]:
  """Reads a PLY written by ``write_ply``: (vertices [N, 3], triangles [T, 3], colours uint8 or None).

  Raises:
    FormatError (``common.errors``; a ValueError): a header other than ``write_ply``'s (naming the line),
      counts that do not match the data's size, a face that is not a triangle, a vertex index outside
      [0, N), non-finite vertices.
  """
  data = pathlib.Path(path).read_bytes()
  end = data.find(b'end_header\n')
  if not data.startswith(b'ply\n') or end < 0:
    raise FormatError(path, 'not a PLY file (expected "ply" ... "end_header")', 1)
  end += len(b'end_header\n')
  try:
    header = data[:end].decode('ascii').splitlines()
  except UnicodeDecodeError:
    raise FormatError(path, 'the PLY header is not ASCII') from None
  lines = [(k, l.split()) for k, l in enumerate(header, 1) if l.split() and l.split()[0] != 'comment']
  has_color = any(p[-1] == 'red' for _, p in lines)
  expected = [['ply'], ['format', 'binary_little_endian', '1.0'], ['element', 'vertex', None],
              ['property', 'float', 'x'], ['property', 'float', 'y'], ['property', 'float', 'z']]
  if has_color:
    expected += [['property', 'uchar', c] for c in ('red', 'green', 'blue')]
  expected += [['element', 'face', None], ['property', 'list', 'uchar', 'int', 'vertex_indices'],
               ['end_header']]
  counts = []
  for i, want in enumerate(expected):
    line_no, got = lines[i] if i < len(lines) else (len(header), [])
    if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
      raise FormatError(path, f'expected {" ".join(w or "<count>" for w in want)!r}, got {" ".join(got)!r} '
                        '(only the layout of write_ply is read)', line_no)
    if None in want:
      if not got[-1].isdigit():
        raise FormatError(path, f'expected a non-negative count, got {got[-1]!r}', line_no)
      counts.append(int(got[-1]))
  n, t = counts
  fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')] + (
      [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')] if has_color else [])
  vert_dtype, face_dtype = np.dtype(fields), np.dtype([('n', 'u1'), ('idx', '<i4', (3,))])
  size = end + n * vert_dtype.itemsize + t * face_dtype.itemsize
  if len(data) != size:
    raise FormatError(path, f'the header promises {n} vertices and {t} faces ({size} bytes), the file has '
                      f'{len(data)} bytes')
  vert = np.frombuffer(data, vert_dtype, n, end)
  face = np.frombuffer(data, face_dtype, t, end + vert.nbytes)
  v = np.stack([vert['x'], vert['y'], vert['z']], 1)
  bad = np.flatnonzero(~np.all(np.isfinite(v), axis=1))
  if bad.size:
    raise FormatError(path, f'vertex {bad[0]} is not finite: {v[bad[0]].tolist()}')
  bad = np.flatnonzero((face['n'] != 3) | np.any((face['idx'] < 0) | (face['idx'] >= n), axis=1))
  if bad.size:
    raise FormatError(path, f'face {bad[0]}: expected 3 vertex indices in [0, {n}), got {face["n"][bad[0]]} '
                      f'{face["idx"][bad[0]].tolist()}')
  c = np.stack([vert['red'], vert['green'], vert['blue']], 1) if has_color else None
  return v, face['idx'].copy(), c


def uv_to_vertex(template: template_lib.Template) -> np.ndarray:
  """int32 [U]: the vertex each uv index belongs to (uv seams map several uvs to one vertex)."""
  m = np.zeros(len(template.uv), np.int32)
  m[template.triangle_uv.reshape(-1)] = template.triangles.reshape(-1)
  return m


def bake_texture(template: template_lib.Template, vertex_colors: np.ndarray,
                 size: int = 1024) -> np.ndarray:
  """Bakes per-vertex colours [N, 3] into a uint8 [size, size, 3] texture over the ICT UV layout.

  Rasterizes the UV triangles with the tf_ops op (row 0 = v = 1, the OBJ convention) and fills texels
  outside the charts with the nearest chart colour, so bilinear lookups at seams do not bleed black.
  """
  import tensorflow as tf  # local: keeps OBJ/PLY writing usable without TF initialization
  import tf_ops
  uv = np.asarray(template.uv, np.float32)
  clip = np.concatenate([uv * 2.0 - 1.0, np.zeros_like(uv[:, :1]), np.ones_like(uv[:, :1])], 1)
  tri_uv = tf.constant(template.triangle_uv, tf.int32)
  raster = tf_ops.rasterize(tf.constant(clip[None]), tri_uv, (size, size))
  attrs = np.asarray(vertex_colors, np.float32)[uv_to_vertex(template)]
  tex = tf_ops.interpolate(tf.constant(attrs[None]), raster.triangle_ids, raster.barycentrics,
                           tri_uv)[0].numpy()
  empty = raster.triangle_ids[0].numpy() < 0
  if empty.any() and not empty.all():
    _, (iy, ix) = scipy.ndimage.distance_transform_edt(empty, return_indices=True)
    tex = tex[iy, ix]
  return _to_u8(tex)


def write_textured_obj(path, vertices: np.ndarray, template: template_lib.Template,
                       vertex_albedo: np.ndarray, texture_size: int = 1024) -> pathlib.Path:
  """Writes ``name.obj`` (with ICT UVs), ``name.mtl`` and ``name_albedo.png`` (baked albedo)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  stem = path.stem
  Image.fromarray(bake_texture(template, vertex_albedo, texture_size)).save(
      path.with_name(f'{stem}_albedo.png'))
  path.with_name(f'{stem}.mtl').write_text(
      f'newmtl face\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nillum 1\nmap_Kd {stem}_albedo.png\n')
  faces = np.stack([template.triangles + 1, template.triangle_uv + 1], -1).reshape(-1, 6)
  with open(path, 'w') as f:
    f.write(f'# complete3dmm mesh, units: cm\nmtllib {stem}.mtl\n')
    np.savetxt(f, np.asarray(vertices, np.float64), fmt='v %.6f %.6f %.6f')
    np.savetxt(f, np.asarray(template.uv, np.float64), fmt='vt %.6f %.6f')
    f.write('usemtl face\n')
    np.savetxt(f, faces, fmt='f %d/%d %d/%d %d/%d')
  return path

