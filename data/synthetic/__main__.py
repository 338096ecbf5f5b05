"""``python -m data.synthetic``: generate (or find in the cache) a synthetic dataset (see the package)."""

from common import cli  # noqa: F401  (must precede TensorFlow)

import time  # pylint: disable=g-bad-import-order
from typing import Sequence

from absl import app
from absl import flags

from data.synthetic import config as config_lib
from data.synthetic import write

_DEFAULT = config_lib.SyntheticConfig()
flags.DEFINE_string('output', None, 'Output folder (default: the cache folder for this configuration).')
flags.DEFINE_integer('num_identities', _DEFAULT.num_identities, 'Training clips (one identity each).')
flags.DEFINE_integer('num_frames', _DEFAULT.num_frames, 'N_f frames per training clip.')
flags.DEFINE_integer('num_neutral', _DEFAULT.num_neutral, 'Neutral single-image samples (other identities).')
flags.DEFINE_integer('num_test_subjects', _DEFAULT.num_test_subjects,
                     'Subjects of the BU-3DFE-layout test split.')
flags.DEFINE_list('test_expressions', list(_DEFAULT.test_expressions), 'BU-3DFE expression codes per subject '
                  '(NE00, or AN/DI/FE/HA/SA/SU with intensity 01-04).')
flags.DEFINE_integer('identity_modes', _DEFAULT.identity_modes, 'K leading ICT identity modes (<= 100).')
flags.DEFINE_integer('max_active_blendshapes', _DEFAULT.max_active_blendshapes,
                     'Max active blendshapes per frame.')
flags.DEFINE_float('yaw_deg', _DEFAULT.yaw_deg, 'Yaw range +- (degrees).')
flags.DEFINE_float('pitch_deg', _DEFAULT.pitch_deg, 'Pitch range +- (degrees).')
flags.DEFINE_float('roll_deg', _DEFAULT.roll_deg, 'Roll range +- (degrees).')
flags.DEFINE_integer('seed', _DEFAULT.seed, 'Random seed (the dataset is a pure function of the flags).')
FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  f = FLAGS
  cfg = config_lib.SyntheticConfig(
      num_identities=f.num_identities, num_frames=f.num_frames, num_neutral=f.num_neutral,
      num_test_subjects=f.num_test_subjects, test_expressions=tuple(f.test_expressions),
      identity_modes=f.identity_modes, max_active_blendshapes=f.max_active_blendshapes, yaw_deg=f.yaw_deg,
      pitch_deg=f.pitch_deg, roll_deg=f.roll_deg, seed=f.seed)
  t0 = time.time()
  ds = write.ensure_synthetic_dataset(cfg, f.output)
  print(f'synthetic dataset ({time.time() - t0:.1f} s): {ds.root}\n  train video:   {ds.train_video}\n'
        f'  train neutral: {ds.train_neutral}\n  test BU-3DFE:  {ds.test_bu3dfe}')


if __name__ == '__main__':
  cli.run(main)
