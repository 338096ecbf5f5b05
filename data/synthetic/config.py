"""What the synthetic world generates (``SyntheticConfig``), the generator version and the dataset's paths."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib

from model import config as model_config

# Bump when the same configuration would produce different bytes (the cache key includes it).
GENERATOR_VERSION = 3
# Points per stored lip contour (the mesh loops have 30-40 vertices; see lips.resample_polyline).
CONTOUR_POINTS = 16


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """What to generate (every field is part of the cache key)."""
  num_identities: int = 16  # training clips, one identity each
  num_frames: int = model_config.NUM_FRAMES  # N_f frames per training clip
  num_neutral: int = 8  # neutral single images (other identities)
  num_test_subjects: int = 4  # BU-3DFE-layout test subjects
  test_expressions: tuple[str, ...] = ('NE00', 'HA04', 'SU04')
  identity_modes: int = 40  # K leading ICT identity modes
  max_active_blendshapes: int = 4
  neutral_frame_probability: float = 0.15  # frames of training clips that are exactly neutral
  yaw_deg: float = 30.0
  pitch_deg: float = 15.0
  roll_deg: float = 10.0
  test_image_size: int = 512  # BU-3DFE F2D photos are 512 x 512
  seed: int = 0
  region: str = 'narrow'

  def key(self) -> str:
    """12 hex digits identifying this configuration and GENERATOR_VERSION (the cache folder's name)."""
    blob = json.dumps({**dataclasses.asdict(self), 'version': GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class SyntheticDataset:
  """Paths of a generated dataset."""
  root: pathlib.Path
  train_video: str  # glob of the multi-frame records
  train_neutral: str  # glob of the neutral single-image records
  train_groundtruth: dict[str, pathlib.Path]  # 'video' / 'neutral' -> npz
  test_bu3dfe: pathlib.Path  # BU-3DFE layout root
  test_groundtruth: pathlib.Path
  config: SyntheticConfig


def dataset_paths(root: pathlib.Path, cfg: SyntheticConfig) -> SyntheticDataset:
  """The paths of the dataset generated for ``cfg`` into ``root``."""
  return SyntheticDataset(root=root, train_video=str(root / 'train' / 'video-*.tfrecord'),
                          train_neutral=str(root / 'train' / 'neutral-*.tfrecord'),
                          train_groundtruth={'video': root / 'train' / 'video_groundtruth.npz',
                                             'neutral': root / 'train' / 'neutral_groundtruth.npz'},
                          test_bu3dfe=root / 'test' / 'bu3dfe',
                          test_groundtruth=root / 'test' / 'groundtruth.npz',
                          config=cfg)
