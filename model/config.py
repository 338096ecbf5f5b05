"""The face model's sizes: the paper's numbers, owned here and read by every package.

``ModelConfig`` holds what defines a learned model's shape (template, deformation graph, basis sizes,
image size, frames per sample). ``PAPER`` is the paper's configuration (Sec. 3, 4.1): 240 px crops,
N_f = 4 frames per sample, m_i = 80 identity, m_e = 64 expression and m_r = 80 albedo basis vectors, a
deformation graph of G = 521 nodes. The training package's configurations embed a ``ModelConfig``; the
demo and the benchmarks read it too, so a size is written down only here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing

# The paper's crop side in pixels (faces are cropped and resized to IMAGE_SIZE x IMAGE_SIZE).
IMAGE_SIZE = 240
# N_f: frames of one person per training sample.
NUM_FRAMES = 4


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Shape of a face model.

  Attributes:
    region: template face region ('narrow' or 'full', ``model.template.REGIONS``).
    subdivision_level: template midpoint subdivision level (0: 6,706 vertices; 1: ~26k; 2: ~105k).
    num_nodes: G, deformation graph nodes.
    num_neighbours: graph nodes blended per vertex by the upsampling U.
    num_identity: m_i, identity basis vectors.
    num_expression: m_e, expression basis vectors (needs 3G >= m_e).
    num_albedo: m_r, albedo basis vectors.
    image_size: rendered (and cropped) image side, pixels.
    num_frames: N_f, frames per sample.
  """
  region: str = 'narrow'
  subdivision_level: int = 0
  num_nodes: int = 521
  num_neighbours: int = 4
  num_identity: int = 80
  num_expression: int = 64
  num_albedo: int = 80
  image_size: int = IMAGE_SIZE
  num_frames: int = NUM_FRAMES

  def __post_init__(self):
    for name in ('num_nodes', 'num_neighbours', 'image_size', 'num_frames'):
      if getattr(self, name) < 1:
        raise ValueError(f'ModelConfig.{name} must be >= 1, got {getattr(self, name)}')
    for name in ('subdivision_level', 'num_identity', 'num_expression', 'num_albedo'):
      if getattr(self, name) < 0:
        raise ValueError(f'ModelConfig.{name} must be >= 0, got {getattr(self, name)}')
    if self.num_expression > 3 * self.num_nodes:
      raise ValueError(f'num_expression={self.num_expression} exceeds 3G={3 * self.num_nodes}')

  def to_dict(self) -> dict[str, typing.Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict[str, typing.Any]) -> 'ModelConfig':
    """Builds a config from ``to_dict()`` output; unknown keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
      raise ValueError(f'Unknown ModelConfig fields {unknown}; expected some of {sorted(names)}')
    return cls(**values)

  def key(self) -> str:
    """A short stable hash of the configuration (cache and run-folder keys)."""
    return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


PAPER = ModelConfig()
