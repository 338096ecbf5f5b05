"""The face space the synthetic world samples from: template, ICT bases on it, lip contours and regions."""

from __future__ import annotations

import numpy as np

from data.synthetic import config as config_lib


class FaceSpace:
  """Template, identity / expression bases on the template, semantics for the contours and landmarks.

  Attributes:
    template: ``model.template.Template`` of ``cfg.region``.
    mean: float32 [N, 3] template vertices (cm).
    triangles: int32 [T, 3].
    identity: [K, N, 3] ICT identity deltas (K = ``cfg.identity_modes``) on the template.
    expression: [53, N, 3] ICT blendshape deltas; ``expression_names`` their ICT names.
    mesh: ``model.image_formation.RenderMesh`` for rendering.
    upper_outer, lower_outer: int32 vertex loops of the outer lip contours (iBUG order: 48 -> 54,
      54 -> 48).
    lip_vertices: bool [N], vertices of the lip regions.
  """

  def __init__(self, cfg: config_lib.SyntheticConfig):
    from model import assets  # pylint: disable=g-import-not-at-top
    from model import image_formation  # pylint: disable=g-import-not-at-top
    from model import template as template_lib  # pylint: disable=g-import-not-at-top
    self.template = template_lib.load_template(cfg.region)
    t = self.template
    self.mean = np.asarray(t.vertices, np.float32)
    self.triangles = np.asarray(t.triangles, np.int32)
    self.identity = t.map_ict(assets.load_identity_deltas(cfg.identity_modes))  # [K, N, 3]
    expr, self.expression_names = assets.load_expression_deltas()
    self.expression = t.map_ict(expr)  # [53, N, 3]
    self.mesh = image_formation.RenderMesh.from_template(t)
    sem = t.semantics
    self.upper_outer = np.asarray(sem.upper_lip_contour, np.int32)  # 48 -> 54
    self.lower_outer = np.asarray(sem.lower_lip_contour, np.int32)  # 54 -> 48
    lip_tris = self.triangles[np.asarray(sem.triangle_regions) > 0]
    self.lip_vertices = np.zeros(len(self.mean), bool)
    self.lip_vertices[lip_tris.ravel()] = True
