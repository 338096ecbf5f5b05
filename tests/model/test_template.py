import numpy as np

from model import assets
from model import semantics
from model import template as template_lib


def test_default_template_is_the_compact_narrow_face(template):
  assert template.num_vertices == 6706
  assert template.num_triangles == 13120
  assert template.triangles.min() == 0 and template.triangles.max() == template.num_vertices - 1
  assert len(np.unique(template.triangles)) == template.num_vertices  # compact: every vertex used
  assert template.triangle_uv.max() < len(template.uv)


def test_ict_mapping_reproduces_template_vertices(template):
  face = assets.load_face_area()
  np.testing.assert_allclose(template.map_ict(face.vertices), template.vertices, atol=1e-6)


def test_subdivision_keeps_landmark_positions_and_carries_annotations(template):
  fine = template_lib.load_template('narrow', 1)
  assert fine.num_triangles == 4 * template.num_triangles
  assert 26000 < fine.num_vertices < 27000
  np.testing.assert_array_equal(fine.vertices[fine.landmarks], template.vertices[template.landmarks])
  np.testing.assert_array_equal(fine.vertices[:template.num_vertices], template.vertices)
  for region in (semantics.REGION_UPPER_LIP, semantics.REGION_LOWER_LIP):
    assert (fine.semantics.triangle_regions == region).sum() == 4 * (
        template.semantics.triangle_regions == region).sum()
  # Refined contours: consecutive vertices share a fine edge; endpoints are still the mouth corners.
  edges = {tuple(sorted(e)) for t in fine.triangles.tolist() for e in ((t[0], t[1]), (t[1], t[2]),
                                                                       (t[2], t[0]))}
  for contour in (fine.semantics.upper_lip_contour, fine.semantics.lower_lip_contour):
    assert all(tuple(sorted(p)) in edges for p in zip(contour[:-1].tolist(), contour[1:].tolist()))
  assert fine.semantics.upper_lip_contour[0] == template.landmarks[48]
  assert fine.semantics.upper_lip_contour[-1] == template.landmarks[54]
  # UVs: the original uv coordinates are kept first as well.
  np.testing.assert_array_equal(fine.uv[:len(template.uv)], template.uv)
  assert fine.triangle_uv.max() < len(fine.uv)


def test_subdivided_template_maps_ict_deltas_linearly(template):
  fine = template_lib.load_template('narrow', 1)
  delta = np.random.default_rng(1).normal(size=(assets.ICT_FACE_AREA_NUM_VERTICES, 3))
  mapped = fine.map_ict(delta)
  np.testing.assert_allclose(mapped[:template.num_vertices], template.map_ict(delta), atol=1e-5)
  e = fine.triangles[-1]  # the last fine triangle is the middle one: all three are edge midpoints
  assert (e >= template.num_vertices).all()
