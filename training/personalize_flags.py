"""Settings and command-line flags of the personalisation (``training.personalize``), importable without
TensorFlow (``training.main`` defines the flags before parsing)."""

from __future__ import annotations

import dataclasses

from absl import flags

from data import face as face_lib


@dataclasses.dataclass(frozen=True)
class PersonalizeConfig:
  """Personalisation settings.

  Attributes:
    steps: fine-tuning iterations.
    learning_rate: Adam step size of the bases (cosine decay to 10%).
    train_fraction: share of the usable frames (the first ones) used for fine-tuning.
    max_frames: frames read from the clip (after the stride; 0: all).
    stride: read every stride-th frame.
    min_face_size: smallest face crop side, source pixels (paper: 200).
    num_figures: Fig. 9 pictures written.
    seed: frame sampling seed.
  """
  steps: int = 200
  learning_rate: float = 1e-3
  train_fraction: float = 0.7
  max_frames: int = 120
  stride: int = 2
  min_face_size: int = face_lib.DEFAULT_MIN_FACE_SIZE
  num_figures: int = 3
  seed: int = 0

  def __post_init__(self):
    if self.steps < 0 or self.learning_rate <= 0 or not 0 < self.train_fraction < 1 or self.stride < 1:
      raise ValueError(f'Invalid personalisation settings {self}: need steps >= 0, learning_rate > 0, '
                       '0 < train_fraction < 1, stride >= 1')


def define_flags(flag_values=None) -> None:
  """The flags of ``training.main --stage=personalize`` (``--steps`` and ``--run_dir`` are main's)."""
  fv = flag_values or flags.FLAGS
  flags.DEFINE_string('model', None, 'personalize: the generic model (run folder; default: the shipped '
                      'pretrained model, model.pretrained).', flag_values=fv)
  flags.DEFINE_string('video', None, 'personalize: the clip of one person.', flag_values=fv)
  flags.DEFINE_integer('min_face_size', face_lib.DEFAULT_MIN_FACE_SIZE,
                       'personalize: smallest face crop side, source pixels.', flag_values=fv)
  flags.DEFINE_integer('max_frames', PersonalizeConfig.max_frames, 'personalize: frames read (0: all).',
                       flag_values=fv)
  flags.DEFINE_integer('frame_stride', PersonalizeConfig.stride, 'personalize: read every n-th frame.',
                       flag_values=fv)
  flags.DEFINE_float('train_fraction', PersonalizeConfig.train_fraction,
                     'personalize: first share of the frames used for fine-tuning.', flag_values=fv)
  flags.DEFINE_float('personalize_learning_rate', PersonalizeConfig.learning_rate,
                     'personalize: Adam step size of the bases.', flag_values=fv)
