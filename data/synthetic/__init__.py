r"""Synthetic ground-truth dataset: the built-in default data of the project.

  python -m data.synthetic                       # generate (or find) the default set in the cache
  python -m data.synthetic --output=/tmp/syn --num_identities=40 --yaw_deg=45

Faces are rendered with the project's own image formation (``model.image_formation.render``: rigid pose,
perspective camera, Lambertian 9-coefficient SH shading, the ``tf_ops`` rasterizer) from:

* identity: the ICT identity modes, weights ~ N(0, 1) on the leading ``identity_modes`` modes;
* expression: sparse random activations of the 53 ICT blendshapes (1..``max_active_blendshapes`` active,
  weights U(0.2, 1)), a fraction of exactly neutral frames, and exactly neutral samples;
* albedo: a skin tone from a light-to-dark palette, smooth low-frequency variation, redder lips;
* lighting: random SH (ambient + one directional light, slight colour tint);
* pose: yaw / pitch / roll uniform in +-the flag ranges, small translation jitter;
* background: random smooth colour fields with noise.

Output (``root``):

* ``train/video-*.tfrecord``: one record per identity, ``num_frames`` frames with different expression,
  pose and light (``meta/dataset`` 'synthetic', ``is_neutral`` 0);
* ``train/neutral-*.tfrecord``: single neutral images of other identities (``is_neutral`` 1), the
  synthetic stand-in for EmotioNet's neutral subset (mix them 3:1 with ``data.pipeline``);
* ``train/*_groundtruth.npz``: per record the parameters (identity weights, blendshape weights, pose,
  SH, albedo) and the meshes (per-frame vertices in cm, the neutral identity mesh), plus topology;
* ``test/bu3dfe/<subject>/<subject>_<EXPR><II><RACE>_F3D.{wrl,bnd}`` and ``_F2D.bmp``: a test split in the
  BU-3DFE layout (``shared/formats/BU3DFE.md``): meshes in mm, 83 landmarks, a frontal 2D image;
  ``test/groundtruth.npz`` holds the parameters.

Records use ``data.schema`` exactly like real data. Landmarks are the projected template landmarks (the
jaw follows the silhouette, as in the model), lip masks are the rendered lip regions, the outer lip contours
are the projected mesh lip contours (resampled to 16 points) and the inner ones the visible boundary of the
rendered lips facing the mouth (up to 32 pixels; what a lip segmentation of the image shows), so the training
pipeline cannot tell the two apart. Contours are projected
without an occlusion test.

Generation is deterministic for a configuration (seed included) and cached: ``ensure_synthetic_dataset``
returns the paths, generating on first use into ``cache_dir('synthetic', <hash of the configuration>)``.

Modules: ``config`` (``SyntheticConfig``, ``GENERATOR_VERSION``, paths), ``face_space`` (``FaceSpace``),
``sampling`` (random draws), ``render`` (image formation -> ``schema.Frame``), ``write`` (records, ground
truth, caching), ``bu3dfe_export`` (the test split), ``__main__`` (the CLI).

One training sample on the fly (what ``write.generate_split`` does per record)::

    space = synthetic.FaceSpace(cfg)                         # once
    params = synthetic.sample_clip(rng, cfg, space, num_frames, neutral=False)
    frames, landmarks2d = synthetic.render_clip(space, params)  # list[schema.Frame], [F, 68, 2]
    sample = synthetic.clip_sample(frames, 'video', n, cfg.seed, neutral=False)  # a schema.Sample
"""

from data.synthetic.bu3dfe_export import BU3DFE_EXPRESSION_BLENDSHAPES
from data.synthetic.bu3dfe_export import RACE_TAGS
from data.synthetic.config import CONTOUR_POINTS
from data.synthetic.config import GENERATOR_VERSION
from data.synthetic.config import SyntheticConfig
from data.synthetic.config import SyntheticDataset
from data.synthetic.config import dataset_paths
from data.synthetic.face_space import FaceSpace
from data.synthetic.render import render_batch
from data.synthetic.render import render_clip
from data.synthetic.render import to_frames
from data.synthetic.sampling import SKIN_TONES
from data.synthetic.sampling import ClipParameters
from data.synthetic.sampling import sample_albedo
from data.synthetic.sampling import sample_background
from data.synthetic.sampling import sample_clip
from data.synthetic.sampling import sample_expression
from data.synthetic.sampling import sample_identity
from data.synthetic.sampling import sample_pose
from data.synthetic.sampling import sample_sh
from data.synthetic.write import clip_sample
from data.synthetic.write import ensure_synthetic_dataset
from data.synthetic.write import generate

__all__ = [
    'BU3DFE_EXPRESSION_BLENDSHAPES',
    'RACE_TAGS',
    'CONTOUR_POINTS',
    'GENERATOR_VERSION',
    'SyntheticConfig',
    'SyntheticDataset',
    'dataset_paths',
    'FaceSpace',
    'render_batch',
    'render_clip',
    'to_frames',
    'SKIN_TONES',
    'ClipParameters',
    'sample_albedo',
    'sample_background',
    'sample_clip',
    'sample_expression',
    'sample_identity',
    'sample_pose',
    'sample_sh',
    'clip_sample',
    'ensure_synthetic_dataset',
    'generate',
]
