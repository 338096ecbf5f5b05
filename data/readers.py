"""Readers for the public dataset layouts in ``shared/formats`` (see the FORMAT.md files there).

* VoxCeleb: ``txt/<id>/<ytid>/<utt>.txt`` annotation files, ``vox1_meta.csv``, the FOMM clip list.
* EmotioNet: AU list files (tab-separated ``URL AU1 ... AU60`` lines, or EMOCA ``path,AU1..AU60`` CSVs);
  neutral = every coded AU is 0 (999 = not coded).
* BU-3DFE: ``.wrl`` (VRML 2.0, mm), ``.bnd`` (83 landmarks), ``.bmp`` / ``_F2D`` images, file-name parsing.
* LFW: ``pairs.txt`` (View 2) and the ``<name>/<name>_%04d.jpg`` image tree.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
import re
from typing import Iterator, Sequence

import numpy as np

# ----------------------------------------------------------------------------------------------- VoxCeleb


@dataclasses.dataclass
class VoxCelebTrack:
  """One ``txt/<id>/<ytid>/<utt>.txt`` annotation: header fields and per-frame boxes."""
  identity: str
  reference: str
  offset: int | None
  fv_conf: float | None
  asd_conf: float | None
  frames: np.ndarray  # int64 [N] frame indices (25 fps source video)
  boxes: np.ndarray  # float32 [N, 4] x, y, w, h (normalized for VoxCeleb2, pixels for VoxCeleb1)
  path: str = ''

  @property
  def normalized(self) -> bool:
    return bool(len(self.boxes)) and float(np.max(self.boxes)) <= 1.5


def read_voxceleb_txt(path: str | os.PathLike) -> VoxCelebTrack:
  """Parses a VoxCeleb1/2 txt annotation file."""
  header: dict[str, str] = {}
  frames, boxes = [], []
  in_table = False
  with open(path, encoding='utf-8', errors='replace') as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      if line.upper().startswith('FRAME'):
        in_table = True
        continue
      if in_table:
        parts = line.split()
        if len(parts) >= 5:
          frames.append(int(parts[0]))
          boxes.append([float(v) for v in parts[1:5]])
        continue
      if ':' in line:
        key, value = line.split(':', 1)
        header[key.strip().lower()] = value.strip()

  def num(key, cast):
    v = header.get(key, '').split()
    try:
      return cast(v[0]) if v else None
    except ValueError:
      return None

  return VoxCelebTrack(identity=header.get('identity', '').split()[0] if header.get('identity') else '',
                       reference=header.get('reference', ''), offset=num('offset', int),
                       fv_conf=num('fv conf', float), asd_conf=num('asd conf', float),
                       frames=np.asarray(frames, np.int64).reshape(-1),
                       boxes=np.asarray(boxes, np.float32).reshape(-1, 4), path=str(path))


def iter_voxceleb_txt_tree(root: str | os.PathLike) -> Iterator[tuple[str, VoxCelebTrack]]:
  """Yields (``<id>/<ytid>/<utt>`` key, track) for every txt file under ``root``, sorted."""
  root = pathlib.Path(root)
  for p in sorted(root.rglob('*.txt')):
    yield p.relative_to(root).with_suffix('').as_posix(), read_voxceleb_txt(p)


def voxceleb_identity(relative_path: str) -> str:
  """The speaker id of a VoxCeleb path (first component like ``id10001``; else the first component)."""
  parts = pathlib.PurePosixPath(relative_path).parts
  for p in parts:
    if re.fullmatch(r'id\d+', p):
      return p
  m = re.search(r'id\d{5}', relative_path)
  return m.group(0) if m else (parts[0] if len(parts) > 1 else '')


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
  """Rows of a CSV with a header line (``vox1_meta.csv``, ``vox-metadata_fomm.csv``, ...)."""
  with open(path, newline='', encoding='utf-8') as f:
    sample = f.read(4096)
    f.seek(0)
    delimiter = '\t' if sample.count('\t') > sample.count(',') else ','
    return [{k.strip(): (v or '').strip() for k, v in row.items()}
            for row in csv.DictReader(f, delimiter=delimiter)]


# ---------------------------------------------------------------------------------------------- EmotioNet

NUM_AUS = 60
NOT_CODED = 999


@dataclasses.dataclass
class EmotioNetEntry:
  """One image of an AU list: its URL or path and AU1..AU60 labels (1 present, 0 absent, 999 not coded)."""
  location: str
  aus: np.ndarray  # int32 [60]

  @property
  def is_neutral(self) -> bool:
    """Every coded AU is 0 (and at least one AU is coded)."""
    coded = self.aus[self.aus != NOT_CODED]
    return coded.size > 0 and bool(np.all(coded == 0))

  def relative_path(self) -> str:
    """Where the image is expected under the local image root: the URL part after ``/Images/`` or the
    path itself for local lists."""
    loc = self.location
    if '://' in loc:
      loc = loc.split('://', 1)[1]
      loc = loc.split('/Images/', 1)[1] if '/Images/' in loc else loc.rsplit('/', 1)[-1]
    return loc.lstrip('/')


def _au_value(text: str) -> int:
  v = float(text)
  return NOT_CODED if v == NOT_CODED else int(round(v))


def read_emotionet_au_file(path: str | os.PathLike) -> list[EmotioNetEntry]:
  """Reads an EmotioNet AU list: ``dataFile_*.txt`` (tab-separated, no header) or an EMOCA-style CSV with a
  ``path, AU1, ..., AU60`` header. Malformed lines are skipped."""
  entries = []
  with open(path, encoding='utf-8', errors='replace') as f:
    first = f.readline()
    f.seek(0)
    if re.search(r'\bAU1\b', first):
      delimiter = '\t' if first.count('\t') > first.count(',') else ','
      for row in csv.DictReader(f, delimiter=delimiter):
        loc_key = next((k for k in row if k and not re.fullmatch(r'AU\d+', k.strip())), None)
        aus = np.full(NUM_AUS, NOT_CODED, np.int32)
        try:
          for k, v in row.items():
            m = re.fullmatch(r'AU(\d+)', (k or '').strip())
            if m and 1 <= int(m.group(1)) <= NUM_AUS and v not in (None, ''):
              aus[int(m.group(1)) - 1] = _au_value(v)
        except ValueError:
          continue
        if loc_key:
          entries.append(EmotioNetEntry(row[loc_key].strip(), aus))
      return entries
    for line in f:
      parts = line.rstrip('\n').split('\t')
      if len(parts) < 2:
        parts = line.split()
      if len(parts) < 2:
        continue
      try:
        values = [_au_value(v) for v in parts[1:1 + NUM_AUS] if v.strip()]
      except ValueError:
        continue
      aus = np.full(NUM_AUS, NOT_CODED, np.int32)
      aus[:len(values)] = values
      entries.append(EmotioNetEntry(parts[0].strip(), aus))
  return entries


# ----------------------------------------------------------------------------------------------- BU-3DFE

BU3DFE_EXPRESSIONS = ('NE', 'AN', 'DI', 'FE', 'HA', 'SA', 'SU')
BU3DFE_RACES = ('WH', 'AE', 'AM', 'BL', 'IN', 'LA')
BU3DFE_LANDMARK_GROUPS = {
    'right_eye': range(0, 8), 'left_eye': range(8, 16), 'right_brow': range(16, 26),
    'left_brow': range(26, 36), 'right_nose': range(36, 39), 'left_nose': range(39, 42),
    'nostrils': range(42, 48), 'outer_mouth': range(48, 60), 'inner_mouth': range(60, 68),
    'jaw': range(68, 83)}
_BU_NAME = re.compile(r'^([FM]\d{4})_([A-Z]{2})(\d{2})([A-Z]{2})_([A-Z0-9]+)$')


@dataclasses.dataclass
class Bu3dfeName:
  subject: str
  expression: str
  intensity: int
  race: str
  kind: str

  @property
  def stem(self) -> str:
    return f'{self.subject}_{self.expression}{self.intensity:02d}{self.race}_{self.kind}'


def parse_bu3dfe_name(name: str) -> Bu3dfeName:
  """Parses ``F0001_AN01WH_F3D`` (with or without extension)."""
  stem = pathlib.PurePath(name).name.split('.')[0]
  m = _BU_NAME.match(stem)
  if not m:
    raise ValueError(f'Not a BU-3DFE file name: {name!r}')
  return Bu3dfeName(m.group(1), m.group(2), int(m.group(3)), m.group(4), m.group(5))


@dataclasses.dataclass
class WrlMesh:
  """A VRML mesh: vertices in mm, triangles (n-gons fan-triangulated), optional texture coordinates."""
  vertices: np.ndarray  # float64 [V, 3]
  triangles: np.ndarray  # int32 [T, 3]
  texcoords: np.ndarray | None = None  # float32 [Vt, 2]
  tex_triangles: np.ndarray | None = None  # int32 [T, 3]


def _block(text: str, keyword: str, start: int = 0) -> tuple[str, int] | None:
  """Contents of ``keyword [ ... ]`` after ``start`` and the end position."""
  m = re.compile(keyword + r'\s*\[').search(text, start)
  if not m:
    return None
  end = text.find(']', m.end())
  if end < 0:
    raise ValueError(f'Unterminated {keyword} block.')
  return text[m.end():end], end


def _numbers(block: str, dtype) -> np.ndarray:
  return np.array(block.replace(',', ' ').split(), dtype=dtype)


def _polygons(indices: np.ndarray) -> np.ndarray:
  tris, poly = [], []
  for i in indices.tolist() + [-1]:
    if i < 0:
      tris.extend([poly[0], poly[k], poly[k + 1]] for k in range(1, len(poly) - 1))
      poly = []
    else:
      poly.append(i)
  return np.asarray(tris, np.int32).reshape(-1, 3)


def read_wrl(path: str | os.PathLike) -> WrlMesh:
  """Reads the VRML 2.0 mesh of a BU-3DFE scan (``Coordinate``/``coordIndex``, optional texture)."""
  text = pathlib.Path(path).read_text(encoding='latin-1')
  text = re.sub(r'#[^\n]*', '', text)
  coord = re.search(r'\bCoordinate\s*\{', text)
  if not coord:
    raise ValueError(f'{path}: no Coordinate node.')
  pts = _block(text, r'point', coord.end())
  verts = _numbers(pts[0], np.float64)
  if verts.size % 3:
    raise ValueError(f'{path}: point count not a multiple of 3.')
  ci = _block(text, r'\bcoordIndex')
  tris = _polygons(_numbers(ci[0], np.int64)) if ci else np.zeros((0, 3), np.int32)
  verts = verts.reshape(-1, 3)
  if tris.size and (tris.max() >= len(verts)):
    raise ValueError(f'{path}: coordIndex out of range.')
  uv = tex_tris = None
  tc = re.search(r'\bTextureCoordinate\s*\{', text)
  if tc:
    uv = _numbers(_block(text, r'point', tc.end())[0], np.float32).reshape(-1, 2)
    ti = _block(text, r'\btexCoordIndex')
    tex_tris = _polygons(_numbers(ti[0], np.int64)) if ti else None
  return WrlMesh(verts, tris, uv, tex_tris)


def write_wrl(path: str | os.PathLike, vertices: np.ndarray, triangles: np.ndarray,
              texcoords: np.ndarray | None = None) -> None:
  """Writes a mesh in the BU-3DFE VRML 2.0 layout (vertices in mm)."""
  lines = ['#VRML V2.0 utf8', '', 'Transform {', ' children [', '  Shape {', '   geometry IndexedFaceSet {',
           '    coord Coordinate {', '     point [']
  lines += [f'      {x:.4f} {y:.4f} {z:.4f},' for x, y, z in np.asarray(vertices, np.float64)]
  lines += ['     ]', '    }', '    coordIndex [']
  lines += [f'     {a}, {b}, {c}, -1,' for a, b, c in np.asarray(triangles, np.int64)]
  lines += ['    ]']
  if texcoords is not None:
    lines += ['    texCoord TextureCoordinate {', '     point [']
    lines += [f'      {u:.6f} {v:.6f},' for u, v in np.asarray(texcoords, np.float64)]
    lines += ['     ]', '    }', '    texCoordIndex [']
    lines += [f'     {a}, {b}, {c}, -1,' for a, b, c in np.asarray(triangles, np.int64)]
    lines += ['    ]']
  lines += ['   }', '  }', ' ]', '}', '']
  pathlib.Path(path).write_text('\n'.join(lines), encoding='utf-8')


def read_bnd(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """Reads a ``.bnd`` landmark file: (int64 [N] vertex indices (0-based), float64 [N, 3] positions mm)."""
  idx, pts = [], []
  for line in pathlib.Path(path).read_text(encoding='latin-1').splitlines():
    parts = line.replace(',', ' ').split()
    if len(parts) < 4:
      continue
    idx.append(int(float(parts[0])))
    pts.append([float(v) for v in parts[1:4]])
  return np.asarray(idx, np.int64), np.asarray(pts, np.float64).reshape(-1, 3)


def write_bnd(path: str | os.PathLike, indices: Sequence[int], points: np.ndarray) -> None:
  """Writes a ``.bnd`` file (``index x y z`` per line, tab separated)."""
  rows = [f'{int(i)}\t\t{x:.4f}\t{y:.4f}\t{z:.4f}' for i, (x, y, z) in zip(indices, np.asarray(points))]
  pathlib.Path(path).write_text('\n'.join(rows) + '\n', encoding='utf-8')


@dataclasses.dataclass
class Bu3dfeScan:
  name: Bu3dfeName
  wrl: pathlib.Path
  bnd: pathlib.Path | None
  image: pathlib.Path | None  # the 2D frontal photo (``_F2D``), else the texture


def find_bu3dfe_scans(root: str | os.PathLike, kind: str = 'F3D') -> list[Bu3dfeScan]:
  """All ``<subject>/<stem>_F3D.wrl`` scans under ``root`` with their .bnd and 2D image, sorted."""
  root = pathlib.Path(root)
  scans = []
  for wrl in sorted(root.rglob(f'*_{kind}.wrl')):
    try:
      name = parse_bu3dfe_name(wrl.name)
    except ValueError:
      continue
    base = wrl.with_suffix('')
    bnd = base.with_suffix('.bnd')
    f2d = str(base)[:-len(kind)] + 'F2D'
    candidates = [pathlib.Path(f2d + e) for e in ('.bmp', '.png', '.jpg')]
    candidates += [base.with_suffix(e) for e in ('.bmp', '.png')]  # the F3D texture as a fallback
    image = next((c for c in candidates if c.exists()), None)
    scans.append(Bu3dfeScan(name, wrl, bnd if bnd.exists() else None, image))
  return scans


# ---------------------------------------------------------------------------------------------------- LFW


@dataclasses.dataclass
class LfwPair:
  fold: int
  name_a: str
  index_a: int
  name_b: str
  index_b: int

  @property
  def same(self) -> bool:
    return self.name_a == self.name_b


def read_lfw_pairs(path: str | os.PathLike) -> list[LfwPair]:
  """Reads ``pairs.txt`` (View 2 or View 1): header ``folds n`` (or ``n``) then matched / mismatched lines."""
  lines = [l.split() for l in pathlib.Path(path).read_text().splitlines() if l.strip()]
  head = [int(v) for v in lines[0]]
  folds, per = (head[0], head[1]) if len(head) == 2 else (1, head[0])
  body = lines[1:]
  if len(body) != folds * 2 * per:
    raise ValueError(f'{path}: expected {folds * 2 * per} pairs, found {len(body)}.')
  pairs = []
  for k, parts in enumerate(body):
    fold = k // (2 * per)
    if len(parts) == 3:
      pairs.append(LfwPair(fold, parts[0], int(parts[1]), parts[0], int(parts[2])))
    elif len(parts) == 4:
      pairs.append(LfwPair(fold, parts[0], int(parts[1]), parts[2], int(parts[3])))
    else:
      raise ValueError(f'{path}: bad pair line {" ".join(parts)!r}.')
  return pairs


def lfw_image_path(root: str | os.PathLike, name: str, index: int) -> pathlib.Path:
  """``root/<name>/<name>_%04d.jpg`` (also accepts a flat folder holding the jpgs)."""
  root = pathlib.Path(root)
  nested = root / name / f'{name}_{index:04d}.jpg'
  flat = root / f'{name}_{index:04d}.jpg'
  return nested if nested.exists() or not flat.exists() else flat
