r"""Demo: render the template under several poses and lightings, plus basis-mode grids.

    python -m model.demo --run_dir=runs/demo

Writes into the run folder:
  poses_lightings.png     template (mean albedo) under a grid of poses (rows) x lightings (columns),
                          with the projected landmarks (dynamic jaw contour) in green
  regions.png             face mask regions (skin / upper lip / lower lip) for the same poses
  basis_{identity,expression,albedo}.png   Figure-1-style grids for smooth random bases
  template.obj / template.ply             the mean face with vertex colours
  template_uv.obj (+ .mtl, _albedo.png)   the mean face with ICT UVs and a baked albedo texture
  model.npz                               the (random) face model export
  flags.txt, model_config.json            the flags used and the model's sizes (``model.config``)
"""

from __future__ import annotations

from common import cli  # pylint: disable=g-bad-import-order  (first: quiets TensorFlow's C++ logs)

import json
import pathlib
import time

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tqdm

from model import camera as camera_lib
from model import config
from model import deformation_graph
from model import export
from model import face_model as face_model_lib
from model import image_formation
from model import lighting
from model import template as template_lib
from model import visualize

FLAGS = flags.FLAGS
flags.DEFINE_string('run_dir', 'runs/demo', 'Output folder.')
_PAPER = config.PAPER
flags.DEFINE_enum('region', _PAPER.region, template_lib.REGIONS, 'Template face region.')
flags.DEFINE_integer('subdivision_level', _PAPER.subdivision_level,
                     'Template midpoint subdivision level (1: ~26k vertices).')
flags.DEFINE_integer('num_nodes', _PAPER.num_nodes, 'Deformation graph nodes G.')
flags.DEFINE_integer('num_identity', _PAPER.num_identity, 'Identity basis size m_i.')
flags.DEFINE_integer('num_expression', _PAPER.num_expression, 'Expression basis size m_e.')
flags.DEFINE_integer('num_albedo', _PAPER.num_albedo, 'Albedo basis size m_r.')
flags.DEFINE_integer('image_size', _PAPER.image_size, 'Rendered image side, pixels.')
flags.DEFINE_integer('grid_components', 4, 'Leading components (rows) per basis grid.')
flags.DEFINE_float('basis_scale', 0.3, 'Displacement (cm) / albedo change per unit coefficient of '
                   'the demo random bases.')
flags.DEFINE_integer('seed', 0, 'Random seed of the demo bases.')

POSES_DEG = ((0, 0, 0), (0, -30, 0), (0, 30, 0), (-15, 0, 0), (15, 20, 8), (0, 60, 0))
LIGHTS = (
    ('ambient', lambda: lighting.ambient_sh(1.0)),
    ('front', lambda: lighting.directional_sh([0.0, 0.2, 1.0], 0.7, 0.35)),
    ('left', lambda: lighting.directional_sh([-1.0, 0.3, 0.6], 0.8, 0.3)),
    ('top_warm', lambda: lighting.directional_sh([0.2, 1.0, 0.5], [0.9, 0.7, 0.5], [0.3, 0.3, 0.4])),
)


def smooth_random_bases(model: face_model_lib.FaceModel, graph, template, scale: float,
                        seed: int) -> None:
  """Replaces the model's bases by smooth random ones (visible, face-like modes for the pictures).

  i.i.d. node noise is smoothed by a few Laplacian iterations over the node graph (geometry) and the
  albedo noise by the graph's upsampling (albedo varies smoothly too), then normalized so one unit
  coefficient moves the average vertex by ``scale`` cm / changes albedo by ~``scale`` / 3.
  """
  rng = np.random.default_rng(seed)
  g = graph.num_nodes
  adj = np.zeros((g, g), np.float32)
  adj[graph.edges[:, 0], graph.edges[:, 1]] = adj[graph.edges[:, 1], graph.edges[:, 0]] = 1
  walk = (adj + np.eye(g)) / (adj.sum(1, keepdims=True) + 1)

  def smooth_nodes(m):
    x = rng.normal(size=(g, m, 3)).astype(np.float32)
    for _ in range(6):
      x = np.einsum('ij,jmc->imc', walk, x)
    x /= np.sqrt((x ** 2).sum(-1).mean(0))[None, :, None]  # unit RMS displacement per mode
    decay = 1.0 / np.sqrt(1.0 + np.arange(m))[None, :, None]  # leading modes are larger
    return (x * decay).transpose(0, 2, 1).reshape(3 * g, m)

  model.m_gid.assign(scale * smooth_nodes(model.num_identity))
  model.m_gexp.assign(scale * smooth_nodes(model.num_expression))
  albedo_nodes = smooth_nodes(model.num_albedo).reshape(g, 3, -1)
  albedo = np.einsum('ng,gcm->ncm', graph.upsampling.toarray(), albedo_nodes) / 3.0
  model.m_r.assign((scale * albedo).reshape(3 * template.num_vertices, -1).astype(np.float32))


def render_poses_and_lights(template, mesh, camera) -> tuple[np.ndarray, np.ndarray]:
  """Returns (image grid, region grid) for POSES_DEG x LIGHTS."""
  b = len(POSES_DEG)
  angles = tf.constant([camera_lib.degrees(*p) for p in POSES_DEG], tf.float32)
  translation = camera_lib.default_pose(b)[1]
  vertices = tf.constant(np.broadcast_to(template.vertices, (b,) + template.vertices.shape))
  albedo = tf.fill([b, template.num_vertices, 3], 1.0) * face_model_lib.DEFAULT_ALBEDO
  tiles, region_tiles = [], []
  results = []
  for _, make_sh in tqdm.tqdm(LIGHTS, desc='poses x lightings', leave=False):
    sh = np.tile(make_sh(), (b, 1, 1))
    results.append(image_formation.render(vertices, albedo, (angles, translation), sh, camera, mesh))
  palette = np.array([[0.85, 0.85, 0.85], [0.9, 0.2, 0.2], [0.2, 0.3, 0.9]], np.float32)
  for i in range(b):
    for r in results:
      img = visualize.draw_landmarks(r['image'][i].numpy(), r['landmarks2d'][i].numpy())
      tiles.append(img.astype(np.float32) / 255.0)
    regions = results[0]['regions'][i].numpy()
    region_tiles.append(np.where(regions[..., None] >= 0, palette[np.maximum(regions, 0)], 0.0))
  grid = visualize.image_grid(np.stack(tiles), b, len(LIGHTS))
  region_grid = visualize.image_grid(np.stack(region_tiles), 1, b)
  return grid, region_grid


def main(argv) -> None:
  del argv
  run_dir = pathlib.Path(FLAGS.run_dir)
  run_dir.mkdir(parents=True, exist_ok=True)
  logging.get_absl_handler().use_absl_log_file('demo', str(run_dir))
  (run_dir / 'flags.txt').write_text(FLAGS.flags_into_string())
  cfg = config.ModelConfig(
      region=FLAGS.region, subdivision_level=FLAGS.subdivision_level, num_nodes=FLAGS.num_nodes,
      num_identity=FLAGS.num_identity, num_expression=FLAGS.num_expression, num_albedo=FLAGS.num_albedo,
      image_size=FLAGS.image_size)
  (run_dir / 'model_config.json').write_text(json.dumps(cfg.to_dict(), indent=2))
  start = time.time()
  steps = tqdm.tqdm(total=6, desc='model.demo')

  template = template_lib.load_template(cfg.region, cfg.subdivision_level)
  graph = deformation_graph.load_deformation_graph(template, cfg.num_nodes, cfg.num_neighbours)
  mesh = image_formation.RenderMesh.from_template(template)
  camera = camera_lib.Camera.for_image_size(cfg.image_size, cfg.image_size)
  logging.info('template %s level %d: %d vertices, %d triangles; graph G=%d, %d edges',
               template.region, template.subdivision_level, template.num_vertices,
               template.num_triangles, graph.num_nodes, len(graph.edges))
  steps.update()

  grid, region_grid = render_poses_and_lights(template, mesh, camera)
  visualize.save_png(run_dir / 'poses_lightings.png', grid)
  visualize.save_png(run_dir / 'regions.png', region_grid)
  steps.update()

  model = face_model_lib.build_face_model(
      template, graph, num_identity=cfg.num_identity, num_expression=cfg.num_expression,
      num_albedo=cfg.num_albedo, seed=FLAGS.seed)
  smooth_random_bases(model, graph, template, FLAGS.basis_scale, FLAGS.seed)
  steps.update()
  for basis in tqdm.tqdm(visualize.BASES, desc='basis grids', leave=False):
    img = visualize.basis_grid(model, mesh, basis, FLAGS.grid_components, camera=camera)
    visualize.save_png(run_dir / f'basis_{basis}.png', img)
  steps.update()

  albedo = np.broadcast_to(np.asarray(face_model_lib.DEFAULT_ALBEDO, np.float32),
                           template.vertices.shape)
  export.write_obj(run_dir / 'template.obj', template.vertices, template.triangles, albedo)
  export.write_ply(run_dir / 'template.ply', template.vertices, template.triangles, albedo)
  sample = model(beta=tf.constant(np.eye(1, FLAGS.num_albedo, dtype=np.float32) * 2.0))
  export.write_textured_obj(run_dir / 'template_uv.obj', template.vertices, template,
                            sample['albedo'][0].numpy())
  steps.update()
  export.save_model(run_dir / 'model.npz', model, template, graph)
  steps.update()
  steps.close()
  logging.info('wrote %s in %.1f s', run_dir, time.time() - start)
  print(f'model.demo: wrote {sorted(p.name for p in run_dir.iterdir())} to {run_dir} '
        f'in {time.time() - start:.1f} s')


if __name__ == '__main__':
  cli.run(main)
