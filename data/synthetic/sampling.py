"""Random draws of the synthetic world: identity, albedo, expression, lighting, pose, background.

Every function takes a ``numpy.random.Generator`` and draws from it in a fixed order, so a seed fixes the
result (``GENERATOR_VERSION`` changes when an order or a distribution changes).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from data.synthetic import config as config_lib
from data.synthetic import face_space as face_space_lib
from model import assets
from model import config as model_config

# Skin tones (linear-ish RGB albedo), light to dark.
SKIN_TONES = np.array([[0.88, 0.71, 0.61], [0.78, 0.58, 0.46], [0.68, 0.50, 0.37], [0.55, 0.38, 0.27],
                       [0.40, 0.27, 0.19], [0.30, 0.20, 0.14]], np.float32)


def sample_albedo(rng: np.random.Generator, space: face_space_lib.FaceSpace) -> tuple[np.ndarray, float]:
  """Per-vertex albedo float32 [N, 3] in [0.02, 1] and the skin-tone position in SKIN_TONES (0 light .. 5
  dark): a tone between two palette entries, smooth low-frequency variation, redder lips."""
  t = rng.uniform(0, len(SKIN_TONES) - 1)
  lo = int(math.floor(t))
  base = SKIN_TONES[lo] * (1 - (t - lo)) + SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] * (t - lo)
  v = space.mean
  variation = np.zeros_like(v)
  for _ in range(4):  # smooth variation: a few random low-frequency waves over the surface
    k = rng.normal(0, 1, 3)
    k *= 2 * np.pi / rng.uniform(6.0, 18.0) / np.linalg.norm(k)
    variation += rng.uniform(0.01, 0.04) * np.sin(v @ k + rng.uniform(0, 2 * np.pi))[:, None] * (
        1 + rng.normal(0, 0.3, 3))
  albedo = base[None] * (1 + variation)
  albedo[space.lip_vertices] *= np.array([1.0, 0.72, 0.75]) * rng.uniform(0.85, 1.0)
  return np.clip(albedo, 0.02, 1.0).astype(np.float32), float(t)


def sample_expression(rng: np.random.Generator, cfg: config_lib.SyntheticConfig, neutral: bool) -> np.ndarray:
  """float32 [53] ICT blendshape weights: 1..``cfg.max_active_blendshapes`` active with weights U(0.2, 1),
  or all zero when ``neutral`` (no draw then)."""
  w = np.zeros(assets.NUM_ICT_EXPRESSIONS, np.float32)
  if neutral:
    return w
  k = rng.integers(1, cfg.max_active_blendshapes + 1)
  w[rng.choice(assets.NUM_ICT_EXPRESSIONS, size=k, replace=False)] = rng.uniform(0.2, 1.0, k)
  return w


def sample_sh(rng: np.random.Generator) -> np.ndarray:
  """[9, 3] SH lighting: ambient plus one directional light from the front half-space, slightly tinted."""
  from model import lighting  # pylint: disable=g-import-not-at-top
  d = np.array([rng.uniform(-1, 1), rng.uniform(-0.5, 1), rng.uniform(0.3, 1)])
  tint = 1 + rng.normal(0, 0.04, 3)
  return lighting.directional_sh(d, intensity=rng.uniform(0.1, 0.5) * tint,
                                 ambient=rng.uniform(0.55, 0.9) * tint)[0]


def sample_pose(rng: np.random.Generator, cfg: config_lib.SyntheticConfig,
                frontal: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """float32 [3] Euler angles (pitch, yaw, roll; radians, uniform in +-the config's ranges, or within a few
  degrees of frontal) and float32 [3] translation (cm; the default camera distance with jitter)."""
  from model import camera  # pylint: disable=g-import-not-at-top
  if frontal:
    angles = np.radians([rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-2, 2)])
    jitter = np.zeros(3)
  else:
    angles = np.radians([rng.uniform(-cfg.pitch_deg, cfg.pitch_deg), rng.uniform(-cfg.yaw_deg, cfg.yaw_deg),
                         rng.uniform(-cfg.roll_deg, cfg.roll_deg)])
    jitter = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-8, 8)])
  return angles.astype(np.float32), (np.asarray(camera.DEFAULT_TRANSLATION) + jitter).astype(np.float32)


def sample_background(rng: np.random.Generator, size: int) -> np.ndarray:
  """float32 [size, size, 3] in [0, 1]: a smooth random colour field (bicubic 2..5 x 2..5 grid) plus noise."""
  import cv2  # pylint: disable=g-import-not-at-top
  grid = rng.uniform(0, 1, (rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.float32)
  bg = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
  bg += rng.normal(0, 0.03, (size, size, 3)).astype(np.float32)
  return np.clip(bg, 0, 1)


def sample_identity(rng: np.random.Generator, cfg: config_lib.SyntheticConfig,
                    space: face_space_lib.FaceSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
  """A person: identity weights alpha float32 [K] ~ N(0, 1), the neutral mesh float32 [N, 3] (cm), albedo
  float32 [N, 3] and skin tone (see ``sample_albedo``)."""
  alpha = rng.normal(0, 1, cfg.identity_modes).astype(np.float32)
  neutral = space.mean + np.tensordot(alpha, space.identity, 1)
  albedo, tone = sample_albedo(rng, space)
  return alpha, neutral.astype(np.float32), albedo, tone


@dataclasses.dataclass
class ClipParameters:
  """Everything drawn for one clip of F frames of one person (the ground truth of a training record)."""
  alpha: np.ndarray  # float32 [K] identity weights
  neutral_vertices: np.ndarray  # float32 [N, 3] cm
  albedo: np.ndarray  # float32 [N, 3]
  skin_tone: float  # position in SKIN_TONES
  expression: np.ndarray  # float32 [F, 53] blendshape weights
  angles: np.ndarray  # float32 [F, 3] radians
  translation: np.ndarray  # float32 [F, 3] cm
  sh: np.ndarray  # float32 [F, 9, 3]
  backgrounds: np.ndarray  # float32 [F, S, S, 3]
  vertices: np.ndarray  # float32 [F, N, 3] cm, neutral + expression


def sample_clip(rng: np.random.Generator, cfg: config_lib.SyntheticConfig, space: face_space_lib.FaceSpace,
                num_frames: int, neutral: bool = False,
                image_size: int = model_config.IMAGE_SIZE) -> ClipParameters:
  """Draws one clip: a person, then per frame an expression (exactly neutral with probability
  ``cfg.neutral_frame_probability``, always when ``neutral``), a pose, SH lighting and a background."""
  alpha, neutral_vertices, albedo, tone = sample_identity(rng, cfg, space)
  expr = np.stack([sample_expression(rng, cfg, neutral or rng.uniform() < cfg.neutral_frame_probability)
                   for _ in range(num_frames)])
  poses = [sample_pose(rng, cfg) for _ in range(num_frames)]
  angles = np.stack([p[0] for p in poses])
  trans = np.stack([p[1] for p in poses])
  sh = np.stack([sample_sh(rng) for _ in range(num_frames)]).astype(np.float32)
  bgs = np.stack([sample_background(rng, image_size) for _ in range(num_frames)])
  verts = (neutral_vertices[None] + np.tensordot(expr, space.expression, 1)).astype(np.float32)
  return ClipParameters(alpha, neutral_vertices, albedo, tone, expr, angles, trans, sh, bgs, verts)
