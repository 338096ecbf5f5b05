"""Per-item preprocessing as plain Python functions (no Beam): one work item -> records + drop counts.

A work item is one image or one clip (video file or frame folder). ``process_item`` never raises for bad
input: every problem becomes a counted drop reason, so the Beam pipeline (``data.prepare``) only maps it.

Clips: the clip is cut into ``num_frames`` equal segments and ``candidates_per_segment`` frames of every
segment are examined (segment centre first). The person kept is the one whose dlib descriptor matches faces
in the most examined frames (ties: the larger face), so cut-aways and other people are skipped ("within a
clip keep the same person"). One frame per segment is taken when possible, missing ones are filled with
other matching candidates; a source frame is used at most once (a one-frame video has one usable frame);
clips with fewer than ``min_frames`` usable frames are dropped.

Lips (``Config.lip_source``): 'mediapipe' (default) fits the MediaPipe face mesh (``data.face_mesh``) to
every kept face and draws the lip mask and the four lip contours (11 points each) from its 40 lip points;
a face whose mesh score is under ``min_mesh_score`` gets the dlib lips instead (counted as the note
``lips/dlib_fallback``).
'dlib' draws them from the 68 landmarks. Every frame records its ``lip_source``; dlib always gives the face
box and the 68 landmarks.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
from typing import Any

import numpy as np

from data import face as face_lib
from data import face_mesh
from data import lips
from data import media
from data import schema
from model import config as model_config
from model import dlib_weights

# Drop reasons beyond those of ``data.media``.
NO_FACE = 'no_face'
FACE_TOO_SMALL = 'face_too_small'
SEVERAL_FACES = 'several_faces'
DIFFERENT_PERSON = 'different_person'
TOO_FEW_FRAMES = 'too_few_frames'
NOT_NEUTRAL = 'not_neutral'
UNSUPPORTED_FILE = 'unsupported_file'
INTERNAL_ERROR = 'internal_error'
LIP_SOURCES = ('mediapipe', 'dlib')
# Note keys counting the lip source of every written frame (the report's "lips" line).
LIPS_NOTE_PREFIX = 'lips/'
LIPS_FALLBACK = 'dlib_fallback'


@dataclasses.dataclass(frozen=True)
class Config:
  """Preprocessing settings (the paper's defaults)."""
  num_frames: int = model_config.NUM_FRAMES
  min_frames: int = 0  # 0: num_frames
  candidates_per_segment: int = 3
  min_face_size: int = face_lib.DEFAULT_MIN_FACE_SIZE
  margin: float = face_lib.DEFAULT_MARGIN
  detect_max_side: int = face_lib.DEFAULT_DETECT_MAX_SIDE
  upsample: int = 0
  max_pixels: int = media.DEFAULT_MAX_PIXELS
  max_side: int = media.DEFAULT_MAX_SIDE
  same_person_distance: float = dlib_weights.SAME_PERSON_DISTANCE
  lip_source: str = 'mediapipe'
  min_mesh_score: float = face_mesh.DEFAULT_MIN_SCORE

  def __post_init__(self):
    if self.lip_source not in LIP_SOURCES:
      raise ValueError(f'lip_source must be one of {LIP_SOURCES}, got {self.lip_source!r}.')

  def analyzer(self) -> face_lib.FaceAnalyzer:
    return face_lib.FaceAnalyzer(margin=self.margin, min_face_size=self.min_face_size,
                                 detect_max_side=self.detect_max_side, upsample=self.upsample)


@dataclasses.dataclass
class WorkItem:
  """One input. ``kind``: 'image' | 'video' | 'frames' (folder of frame images)."""
  source: str  # path relative to the input root (the key of the item; sorts and shards on it)
  kind: str
  dataset: str
  clip_id: str
  identity_id: str = ''
  is_neutral: int = -1
  drop_reason: str = ''  # set when the item is dropped before processing (e.g. not neutral)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class Result:
  """Output of one item: serialized records, drops keyed by (unit, reason), conversion notes."""
  source: str
  records: list[bytes] = dataclasses.field(default_factory=list)
  drops: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  notes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  frames_examined: int = 0
  detail: str = ''
  # For items dropped for small faces: the largest --min_face_size that would have kept them (0: unknown).
  face_size_needed: int = 0


def lip_contours_in_source(image: np.ndarray, face: face_lib.Face, lip_source: str = 'mediapipe',
                           min_mesh_score: float = face_mesh.DEFAULT_MIN_SCORE
                           ) -> tuple[list[np.ndarray], str, bool]:
  """The four lip contours of a face in source pixels, the source that drew them and whether the mesh
  was rejected (score under ``min_mesh_score``, or non-finite points) so that dlib's lips were used."""
  if lip_source == 'mediapipe':
    mesh = face_mesh.fit(image, face.landmarks)
    if mesh.score >= min_mesh_score and np.all(np.isfinite(mesh.points)):
      return lips.mesh_lip_contours(mesh.points), 'mediapipe', False
    return lips.lip_contours(face.landmarks), 'dlib', True
  return lips.lip_contours(face.landmarks), 'dlib', False


def make_frame(image: np.ndarray, face: face_lib.Face, frame_index: int = 0, cfg: Config | None = None,
               notes: collections.Counter | None = None) -> schema.Frame:
  """Crops a face and derives landmarks, lip mask and lip contours in crop coordinates.

  ``notes`` (if given) counts the frame's lip source under ``lips/<source>`` (``lips/dlib_fallback`` for a
  face the mesh rejected).
  """
  cfg = cfg or Config()
  crop = face_lib.crop_and_resize(image, face.crop_box)
  lm = face_lib.to_crop_coords(face.landmarks, face.crop_box)
  contours, source, fell_back = lip_contours_in_source(image, face, cfg.lip_source, cfg.min_mesh_score)
  contours = [face_lib.to_crop_coords(c, face.crop_box) for c in contours]
  if notes is not None:
    notes[LIPS_NOTE_PREFIX + (LIPS_FALLBACK if fell_back else source)] += 1
  return schema.Frame(image=crop, landmarks=lm, lip_mask=lips.label_map_from_contours(contours),
                      lip_contours=contours, frame_index=int(frame_index),
                      crop_box=tuple(float(v) for v in face.crop_box), lip_source=source)


def _sample(item: WorkItem, frames, size, is_video) -> schema.Sample:
  return schema.Sample(frames=frames, dataset=item.dataset, source=item.source, clip_id=item.clip_id,
                       identity_id=item.identity_id, is_neutral=item.is_neutral, is_video=is_video,
                       source_size=size)


def process_image(path: pathlib.Path, item: WorkItem, cfg: Config,
                  analyzer: face_lib.FaceAnalyzer) -> Result:
  """One image -> one single-frame record, or a drop ('no_face', 'several_faces', ...)."""
  res = Result(item.source)
  image, notes, scale = media.load_image(path, cfg.max_pixels, cfg.max_side)
  res.notes.update(notes)
  res.frames_examined = 1
  faces = analyzer.detect(image)
  # A downscaled large image keeps its faces' source sizes for the min-size rule.
  big = [f for f in faces if f.size / scale >= cfg.min_face_size]
  if not faces:
    raise media.Drop(NO_FACE)
  if not big:
    drop = media.Drop(FACE_TOO_SMALL, f'largest {faces[0].size / scale:.0f} px')
    drop.face_size_needed = int(faces[0].size / scale)
    raise drop
  if len(big) > 1:
    raise media.Drop(SEVERAL_FACES, f'{len(big)} faces')
  frame = make_frame(image, big[0], 0, cfg, res.notes)
  if scale != 1.0:  # crop box in original source pixels
    frame.crop_box = tuple(v / scale for v in frame.crop_box)
  size = (image.shape[1], image.shape[0]) if scale == 1.0 else media.image_size(path)
  res.records.append(schema.serialize_sample(_sample(item, [frame], size, False)))
  return res


def candidate_frames(num_source_frames: int, num_segments: int, per_segment: int) -> list[list[int]]:
  """Frame indices examined per segment, best first (segment centre, then spread around it)."""
  offsets = [0.5, 0.25, 0.75, 0.125, 0.875, 0.375, 0.625][:max(1, per_segment)]
  out = []
  for k in range(num_segments):
    lo = num_source_frames * k / num_segments
    width = num_source_frames / num_segments
    seg = []
    for o in offsets:
      i = min(num_source_frames - 1, int(lo + o * width))
      if i not in seg:
        seg.append(i)
    out.append(seg)
  return out


def _detect_frames(images: dict[int, np.ndarray], cfg: Config, analyzer: face_lib.FaceAnalyzer
                   ) -> tuple[dict[int, list[face_lib.Face]], dict[int, str], list[int]]:
  """Faces large enough to keep (with descriptors) per frame, the drop reason of frames without, and the
  largest face size of every frame with a face."""
  faces: dict[int, list[face_lib.Face]] = {}
  frame_reason: dict[int, str] = {}
  largest = []
  for i, img in images.items():
    found = analyzer.detect(img)
    largest += [max(f.size for f in found)] if found else []
    big = [f for f in found if f.size >= cfg.min_face_size]
    if not found:
      frame_reason[i] = NO_FACE
    elif not big:
      frame_reason[i] = FACE_TOO_SMALL
    else:
      for f in big:
        analyzer.describe(img, f)
      faces[i] = big
  return faces, frame_reason, largest


def _anchor_person(faces: dict[int, list[face_lib.Face]], distance: float) -> face_lib.Face:
  """The face of the person matched in the most frames (ties: the largest face)."""
  def support(face):
    return sum(1 for fs in faces.values()
               if min(np.linalg.norm(g.descriptor - face.descriptor) for g in fs) < distance)

  return max((f for fs in faces.values() for f in fs), key=lambda f: (support(f), f.size))


def _match_person(faces: dict[int, list[face_lib.Face]], anchor: face_lib.Face, distance: float,
                  frame_reason: dict[int, str]) -> dict[int, face_lib.Face]:
  """Per frame the face of the anchor's person; frames without it get the reason 'different_person'."""
  match: dict[int, face_lib.Face] = {}
  for i, fs in faces.items():
    d = [np.linalg.norm(g.descriptor - anchor.descriptor) for g in fs]
    j = int(np.argmin(d))
    if d[j] < distance:
      match[i] = fs[j]
    else:
      frame_reason[i] = DIFFERENT_PERSON
  return match


def choose_frames(segments: list[list[int]], usable: set[int], num_frames: int) -> list[int]:
  """Distinct usable frames, sorted: the best of every segment, then spare ones from the middle out."""
  chosen = []
  for seg in segments:
    for i in seg:
      if i in usable and i not in chosen:
        chosen.append(i)
        break
  spare = sorted(i for i in usable if i not in chosen)
  while len(chosen) < num_frames and spare:
    chosen.append(spare.pop(len(spare) // 2))
  return sorted(chosen)


def _clip_drop(reason: str, detail: str, res: Result, largest: list[int], min_frames: int) -> media.Drop:
  """A clip's drop carrying its frame drops and the --min_face_size that would give it enough frames."""
  drop = media.Drop(reason, detail)
  drop.frame_drops = res.drops
  drop.frames_examined = res.frames_examined
  if len(largest) >= min_frames:
    drop.face_size_needed = sorted(largest, reverse=True)[min_frames - 1]
  return drop


def process_clip(path: pathlib.Path, item: WorkItem, cfg: Config,
                 analyzer: face_lib.FaceAnalyzer) -> Result:
  """One clip -> one record of ``num_frames`` distinct frames of the same person, or a drop."""
  res = Result(item.source)
  src = media.FrameSource(path)
  segments = candidate_frames(src.num_frames, cfg.num_frames, cfg.candidates_per_segment)
  images = src.read(sorted({i for seg in segments for i in seg}))
  res.notes.update(src.notes)
  res.frames_examined = len(images)
  faces, frame_reason, largest = _detect_frames(images, cfg, analyzer)
  min_frames = cfg.min_frames or cfg.num_frames
  if not faces:
    res.drops.update(('frame', r) for r in frame_reason.values())
    common = collections.Counter(frame_reason.values()).most_common(1)
    raise _clip_drop(common[0][0] if common else media.CORRUPT_VIDEO, 'no usable frame', res, largest,
                     min_frames)
  anchor = _anchor_person(faces, cfg.same_person_distance)
  match = _match_person(faces, anchor, cfg.same_person_distance, frame_reason)
  chosen = choose_frames(segments, set(match), cfg.num_frames)
  res.drops.update(('frame', r) for r in frame_reason.values())
  if len(chosen) < min_frames:
    raise _clip_drop(TOO_FEW_FRAMES, f'{len(chosen)} distinct usable frames < {min_frames}', res, largest,
                     min_frames)
  frames = [make_frame(images[i], match[i], i, cfg, res.notes) for i in chosen]
  res.records.append(schema.serialize_sample(_sample(item, frames, src.size, True)))
  return res


def process_item(item: WorkItem | dict, input_root: str | pathlib.Path, cfg: Config,
                 analyzer: face_lib.FaceAnalyzer | None = None) -> Result:
  """Processes one work item; bad input is reported in ``Result.drops`` (unit 'file'), never raised."""
  if isinstance(item, dict):
    item = WorkItem(**item)
  analyzer = analyzer or cfg.analyzer()
  if item.drop_reason:
    res = Result(item.source)
    res.drops[('file', item.drop_reason)] += 1
    return res
  path = pathlib.Path(input_root) / item.source
  try:
    if item.kind == 'image':
      return process_image(path, item, cfg, analyzer)
    if item.kind in ('video', 'frames'):
      return process_clip(path, item, cfg, analyzer)
    raise media.Drop(UNSUPPORTED_FILE, item.kind)
  except media.Drop as e:
    res = Result(item.source, detail=str(e), face_size_needed=getattr(e, 'face_size_needed', 0),
                 frames_examined=getattr(e, 'frames_examined', int(item.kind == 'image')))
    res.drops.update(getattr(e, 'frame_drops', {}))
    res.drops[('file', e.reason)] += 1
    return res
  except Exception as e:  # pylint: disable=broad-except  # one bad file must not stop a dataset run
    res = Result(item.source, detail=f'{type(e).__name__}: {e}')
    res.drops[('file', INTERNAL_ERROR)] += 1
    return res
