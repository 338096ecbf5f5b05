"""BU-3DFE layout (``shared/formats/BU3DFE.md``): VRML meshes, ``.bnd`` landmarks, file names, scan discovery.

Public API (``eval/`` uses it for the BU-3DFE geometry table):

* ``find_bu3dfe_scans(root)`` -> ``Bu3dfeScan`` per ``<subject>/<stem>_F3D.wrl`` (with .bnd and 2D image);
  ``read_scan(scan)`` -> ``Bu3dfeScanData`` (mesh in mm, 83 landmark vertex indices and positions, checked
  against each other).
* ``read_wrl`` / ``write_wrl``: VRML 2.0 ``IndexedFaceSet`` meshes (mm; n-gons fan-triangulated).
* ``read_bnd`` / ``write_bnd``: ``index x y z`` landmark lines (0-based vertex indices, mm).
* ``parse_bu3dfe_name``: ``F0001_AN01WH_F3D`` -> subject, expression, intensity, race, kind.
* ``BU3DFE_LANDMARK_GROUPS``: the 83 landmarks' semantic groups (menpo's labelling).

Readers raise ``FormatError`` (``data.format_io``; a ``ValueError``) naming the file and line for malformed
contents; writers raise ``ValueError`` for arrays they cannot write faithfully.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from typing import Sequence

import numpy as np

from data.format_io import FormatError
from data.format_io import line_of
from data.format_io import parse_float
from data.format_io import parse_token_block

BU3DFE_EXPRESSIONS = ('NE', 'AN', 'DI', 'FE', 'HA', 'SA', 'SU')
BU3DFE_RACES = ('WH', 'AE', 'AM', 'BL', 'IN', 'LA')
BU3DFE_MAX_INTENSITY = 4
BU3DFE_NUM_LANDMARKS = 83
BU3DFE_LANDMARK_GROUPS = {
    'right_eye': range(0, 8), 'left_eye': range(8, 16), 'right_brow': range(16, 26),
    'left_brow': range(26, 36), 'right_nose': range(36, 39), 'left_nose': range(39, 42),
    'nostrils': range(42, 48), 'outer_mouth': range(48, 60), 'inner_mouth': range(60, 68),
    'jaw': range(68, 83)}
_BU_NAME = re.compile(r'^([FM]\d{4})_([A-Z]{2})(\d{2})([A-Z]{2})_([A-Z0-9]+)$')

# ------------------------------------------------------------------------------------------------ names


@dataclasses.dataclass(frozen=True)
class Bu3dfeName:
  """The parts of a BU-3DFE file stem ``<subject>_<EXPR><II><RACE>_<KIND>``."""
  subject: str  # F0001 .. F0056, M0001 .. M0044
  expression: str  # one of BU3DFE_EXPRESSIONS
  intensity: int  # 0 for NE, else 1..4 (4 = peak)
  race: str  # one of BU3DFE_RACES
  kind: str  # F3D (cropped face mesh), RAW, F2D (frontal photo), ...

  @property
  def stem(self) -> str:
    return f'{self.subject}_{self.expression}{self.intensity:02d}{self.race}_{self.kind}'


def parse_bu3dfe_name(name: str) -> Bu3dfeName:
  """Parses ``F0001_AN01WH_F3D`` (with or without folder and extension).

  Raises:
    FormatError: not of that form, an unknown expression or race code, or an intensity other than 00 for
      NE and 01..04 otherwise.
  """
  stem = pathlib.PurePath(name).name.split('.')[0]
  m = _BU_NAME.match(stem)
  if not m:
    raise FormatError(name, 'not a BU-3DFE file name; expected <F|M><4 digits>_<EXPR><II><RACE>_<KIND>, '
                      'e.g. F0001_AN01WH_F3D')
  expression, intensity, race = m.group(2), int(m.group(3)), m.group(4)
  if expression not in BU3DFE_EXPRESSIONS or race not in BU3DFE_RACES:
    raise FormatError(name, f'expression {expression!r} / race {race!r}: expected one of '
                      f'{BU3DFE_EXPRESSIONS} / {BU3DFE_RACES}')
  valid = (0,) if expression == 'NE' else range(1, BU3DFE_MAX_INTENSITY + 1)
  if intensity not in valid:
    raise FormatError(name, f'intensity {intensity:02d} of {expression}: expected '
                      f'{"00" if expression == "NE" else "01..04"}')
  return Bu3dfeName(m.group(1), expression, intensity, race, m.group(5))


# ------------------------------------------------------------------------------------------------- VRML


@dataclasses.dataclass
class WrlMesh:
  """A VRML mesh: vertices in mm, triangles (n-gons fan-triangulated), optional texture coordinates."""
  vertices: np.ndarray  # float64 [V, 3], finite
  triangles: np.ndarray  # int32 [T, 3], in [0, V)
  texcoords: np.ndarray | None = None  # float32 [Vt, 2], finite
  tex_triangles: np.ndarray | None = None  # int32 [T, 3] in [0, Vt) (None: no texCoordIndex)


def _node(text: str, path, keyword: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
  """Character range of the body of the first ``keyword { ... }`` node in ``text[start:end]`` (braces
  matched), or None when there is none."""
  end = len(text) if end is None else end
  m = re.compile(r'\b' + keyword + r'\s*\{').search(text, start, end)
  if not m:
    return None
  depth = 1
  for brace in re.compile(r'[{}]').finditer(text, m.end(), end):
    depth += 1 if brace.group() == '{' else -1
    if depth == 0:
      return m.end(), brace.start()
  raise FormatError(path, f'unterminated {keyword} node (no matching "}}")', line_of(text, m.start()))


def _block(text: str, path, keyword: str, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
  """Character range of the contents of the first ``keyword [ ... ]`` in ``text[start:end]``, or None."""
  end = len(text) if end is None else end
  m = re.compile(r'\b' + keyword + r'\s*\[').search(text, start, end)
  if not m:
    return None
  close = text.find(']', m.end(), end)
  if close < 0:
    raise FormatError(path, f'unterminated {keyword} block (no "]")', line_of(text, m.start()))
  return m.end(), close


def _token_line(text: str, block: tuple[int, int], k: int) -> int:
  """Line of the k-th number of a block."""
  for i, m in enumerate(re.finditer(r'[^\s,]+', text[block[0]:block[1]])):
    if i == k:
      return line_of(text, block[0] + m.start())
  return line_of(text, block[0])


def _points(text: str, path, node: tuple[int, int], what: str, dim: int) -> np.ndarray:
  block = _block(text, path, 'point', *node)
  if block is None:
    raise FormatError(path, f'{what} node has no "point [ ... ]" block', line_of(text, node[0]))
  values = parse_token_block(text, *block, np.float64, path, f'{what} point')
  if values.size == 0 or values.size % dim:
    raise FormatError(path, f'{what} point: expected a positive multiple of {dim} numbers, got {values.size}',
                      line_of(text, block[0]))
  return values.reshape(-1, dim)


def _polygons(text: str, path, block: tuple[int, int], what: str, count: int) -> np.ndarray:
  """Fan-triangulates a ``... -1``-separated index block; indices must lie in [0, count)."""
  indices = parse_token_block(text, *block, np.int64, path, what)
  bad = np.flatnonzero((indices < -1) | (indices >= count))
  if bad.size:
    v = int(indices[bad[0]])
    raise FormatError(path, f'{what}: index {v} out of range; expected 0..{count - 1} or -1 (end of polygon)',
                      _token_line(text, block, int(bad[0])))
  tris, poly = [], []
  for k, i in enumerate(indices.tolist() + [-1]):
    if i >= 0:
      poly.append(i)
      continue
    if len(poly) in (1, 2):
      raise FormatError(path, f'{what}: a polygon with {len(poly)} vertices; expected at least 3',
                        _token_line(text, block, min(k, len(indices) - 1)))
    tris.extend([poly[0], poly[j], poly[j + 1]] for j in range(1, len(poly) - 1))
    poly = []
  return np.asarray(tris, np.int32).reshape(-1, 3)


def read_wrl(path: str | os.PathLike) -> WrlMesh:
  """Reads the VRML 2.0 mesh of a BU-3DFE scan.

  Reads the first ``Coordinate { point [...] }`` node, ``coordIndex [...]`` (polygons ending with -1,
  fan-triangulated; absent: no triangles) and, when present, ``TextureCoordinate { point [...] }`` and
  ``texCoordIndex [...]``.

  Args:
    path: the ``.wrl`` file (latin-1 or UTF-8 text; ``#`` comments are ignored).

  Returns:
    The mesh (vertices in the file's units, mm for BU-3DFE).

  Raises:
    FormatError: no Coordinate node or point block; an unterminated node or block; a number that does not
      parse or is not finite; a point count that is not a multiple of 3 (2 for texture coordinates); an
      index below -1 or past the end of its point list; a polygon of 1 or 2 vertices; a texCoordIndex whose
      polygons do not match coordIndex's.
  """
  text = pathlib.Path(path).read_text(encoding='latin-1')
  text = re.sub(r'#[^\n]*', lambda m: ' ' * len(m.group()), text)  # blank comments, keep positions
  coord = _node(text, path, 'Coordinate')
  if coord is None:
    raise FormatError(path, 'no "Coordinate { point [ ... ] }" node')
  verts = _points(text, path, coord, 'Coordinate', 3)
  ci = _block(text, path, 'coordIndex')
  tris = _polygons(text, path, ci, 'coordIndex', len(verts)) if ci else np.zeros((0, 3), np.int32)
  uv = tex_tris = None
  tc = _node(text, path, 'TextureCoordinate')
  if tc is not None:
    uv = _points(text, path, tc, 'TextureCoordinate', 2).astype(np.float32)
    ti = _block(text, path, 'texCoordIndex')
    if ti is not None:
      tex_tris = _polygons(text, path, ti, 'texCoordIndex', len(uv))
      if tex_tris.shape != tris.shape:
        raise FormatError(path, f'texCoordIndex has {len(tex_tris)} triangles, coordIndex {len(tris)}; '
                          'expected the same polygons', line_of(text, ti[0]))
  return WrlMesh(verts, tris, uv, tex_tris)


def _check_mesh_arrays(vertices, triangles, texcoords=None) -> tuple[np.ndarray, np.ndarray]:
  v = np.asarray(vertices, np.float64)
  t = np.asarray(triangles)
  if v.ndim != 2 or v.shape[1] != 3 or not np.all(np.isfinite(v)):
    raise ValueError(f'vertices: expected finite [V, 3], got shape {v.shape}')
  if t.ndim != 2 or t.shape[1] != 3 or (t.size and (not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or
                                                   t.max() >= len(v))):
    raise ValueError(f'triangles: expected integer [T, 3] in [0, {len(v)}), got {t.dtype} {t.shape}')
  if texcoords is not None:
    uv = np.asarray(texcoords, np.float64)
    if uv.shape != (len(v), 2) or not np.all(np.isfinite(uv)):
      raise ValueError(f'texcoords: expected finite [{len(v)}, 2] (one per vertex), got {uv.shape}')
  return v, t.astype(np.int64)


def write_wrl(path: str | os.PathLike, vertices: np.ndarray, triangles: np.ndarray,
              texcoords: np.ndarray | None = None) -> None:
  """Writes a mesh in the BU-3DFE VRML 2.0 layout (4 decimals; BU-3DFE's unit is mm).

  Args:
    path: the ``.wrl`` file to write.
    vertices: [V, 3] finite positions.
    triangles: integer [T, 3] vertex indices in [0, V).
    texcoords: optional [V, 2] per-vertex texture coordinates (``texCoordIndex`` repeats the triangles).

  Raises:
    ValueError: arrays of the wrong shape, non-finite values, indices out of range.
  """
  vertices, triangles = _check_mesh_arrays(vertices, triangles, texcoords)
  lines = ['#VRML V2.0 utf8', '', 'Transform {', ' children [', '  Shape {', '   geometry IndexedFaceSet {',
           '    coord Coordinate {', '     point [']
  lines += [f'      {x:.4f} {y:.4f} {z:.4f},' for x, y, z in vertices]
  lines += ['     ]', '    }', '    coordIndex [']
  lines += [f'     {a}, {b}, {c}, -1,' for a, b, c in triangles]
  lines += ['    ]']
  if texcoords is not None:
    lines += ['    texCoord TextureCoordinate {', '     point [']
    lines += [f'      {u:.6f} {v:.6f},' for u, v in np.asarray(texcoords, np.float64)]
    lines += ['     ]', '    }', '    texCoordIndex [']
    lines += [f'     {a}, {b}, {c}, -1,' for a, b, c in triangles]
    lines += ['    ]']
  lines += ['   }', '  }', ' ]', '}', '']
  pathlib.Path(path).write_text('\n'.join(lines), encoding='utf-8')


# -------------------------------------------------------------------------------------------- landmarks


def read_bnd(path: str | os.PathLike, num_landmarks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Reads a ``.bnd`` landmark file: one ``index x y z`` line per landmark (white space or commas).

  Args:
    path: the ``.bnd`` file.
    num_landmarks: the expected count (``BU3DFE_NUM_LANDMARKS`` for BU-3DFE), or None for any positive count.

  Returns:
    int64 [N] vertex indices (0-based) and float64 [N, 3] positions (mm).

  Raises:
    FormatError: a non-blank line without exactly 4 fields; an index that is not a non-negative integer
      (``12.0`` reads 12; ``-1``, ``1.5``, ``nan`` raise); a position that is not finite; no landmarks, or
      not ``num_landmarks`` of them.
  """
  idx, pts = [], []
  for line_no, line in enumerate(pathlib.Path(path).read_text(encoding='latin-1').split('\n'), 1):
    parts = line.replace(',', ' ').split()
    if not parts:
      continue
    if len(parts) != 4:
      raise FormatError(path, f'expected 4 fields "index x y z", got {len(parts)}: {line.strip()!r}', line_no)
    i = parse_float(parts[0], path, line_no, 'landmark index')
    if i < 0 or i != int(i) or i >= 2**62:
      raise FormatError(path, f'landmark index {parts[0]!r}: expected a non-negative integer', line_no)
    idx.append(int(i))
    pts.append([parse_float(v, path, line_no, 'landmark position') for v in parts[1:]])
  if not idx or (num_landmarks is not None and len(idx) != num_landmarks):
    raise FormatError(path, f'expected {num_landmarks or "at least 1"} landmark lines, got {len(idx)}')
  return np.asarray(idx, np.int64), np.asarray(pts, np.float64).reshape(-1, 3)


def write_bnd(path: str | os.PathLike, indices: Sequence[int], points: np.ndarray) -> None:
  """Writes a ``.bnd`` file (``index\\t\\tx\\ty\\tz`` per line, 4 decimals).

  Raises:
    ValueError: negative indices, points not finite [N, 3], or counts that differ.
  """
  indices = [int(i) for i in indices]
  points = np.asarray(points, np.float64)
  if points.shape != (len(indices), 3) or not np.all(np.isfinite(points)) or min(indices, default=0) < 0:
    raise ValueError(f'expected {len(indices)} non-negative indices and finite points [{len(indices)}, 3], '
                     f'got points {points.shape}')
  rows = [f'{i}\t\t{x:.4f}\t{y:.4f}\t{z:.4f}' for i, (x, y, z) in zip(indices, points)]
  pathlib.Path(path).write_text('\n'.join(rows) + '\n', encoding='utf-8')


# ------------------------------------------------------------------------------------------------ scans


@dataclasses.dataclass
class Bu3dfeScan:
  """The files of one scan."""
  name: Bu3dfeName
  wrl: pathlib.Path
  bnd: pathlib.Path | None
  image: pathlib.Path | None  # the 2D frontal photo (``_F2D``), else the texture


@dataclasses.dataclass
class Bu3dfeScanData:
  """A scan's mesh and landmarks, read and checked against each other."""
  name: Bu3dfeName
  mesh: WrlMesh  # mm
  landmark_indices: np.ndarray | None  # int64 [83] vertex indices into mesh.vertices (None: no .bnd)
  landmarks: np.ndarray | None  # float64 [83, 3] mm


def find_bu3dfe_scans(root: str | os.PathLike, kind: str = 'F3D') -> list[Bu3dfeScan]:
  """All ``<subject>/<stem>_<kind>.wrl`` scans under ``root`` with their .bnd and 2D image, sorted by path.

  Files whose names do not parse (``parse_bu3dfe_name``) are not scans and are left out.
  """
  root = pathlib.Path(root)
  scans = []
  for wrl in sorted(root.rglob(f'*_{kind}.wrl')):
    try:
      name = parse_bu3dfe_name(wrl.name)
    except FormatError:
      continue
    base = wrl.with_suffix('')
    bnd = base.with_suffix('.bnd')
    f2d = str(base)[:-len(kind)] + 'F2D'
    candidates = [pathlib.Path(f2d + e) for e in ('.bmp', '.png', '.jpg')]
    candidates += [base.with_suffix(e) for e in ('.bmp', '.png')]  # the F3D texture as a fallback
    image = next((c for c in candidates if c.exists()), None)
    scans.append(Bu3dfeScan(name, wrl, bnd if bnd.exists() else None, image))
  return scans


def read_scan(scan: Bu3dfeScan, num_landmarks: int | None = BU3DFE_NUM_LANDMARKS) -> Bu3dfeScanData:
  """Reads a scan's mesh and landmarks.

  Args:
    scan: from ``find_bu3dfe_scans``.
    num_landmarks: landmarks expected in the ``.bnd`` (None: any count).

  Raises:
    FormatError: from ``read_wrl`` / ``read_bnd``, or a landmark index past the mesh's vertices.
  """
  mesh = read_wrl(scan.wrl)
  if scan.bnd is None:
    return Bu3dfeScanData(scan.name, mesh, None, None)
  idx, pts = read_bnd(scan.bnd, num_landmarks)
  if idx.max() >= len(mesh.vertices):
    k = int(np.argmax(idx >= len(mesh.vertices)))
    raise FormatError(scan.bnd, f'landmark index {int(idx[k])} past the {len(mesh.vertices)} vertices of '
                      f'{scan.wrl.name}')
  return Bu3dfeScanData(scan.name, mesh, idx, pts)
