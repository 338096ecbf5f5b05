import numpy as np

from model import semantics


def test_landmarks66_drops_inner_mouth_corners():
  assert len(semantics.LANDMARKS66) == 66
  assert 60 not in semantics.LANDMARKS66 and 64 not in semantics.LANDMARKS66
  assert list(semantics.LANDMARKS66) == sorted(semantics.LANDMARKS66)


def test_lip_regions_are_nonempty_and_upper_lies_above_lower(template):
  sem = template.semantics
  up, lo = sem.upper_lip_triangles, sem.lower_lip_triangles
  assert len(up) > 100 and len(lo) > 100
  assert not set(up.tolist()) & set(lo.tolist())
  v = template.vertices
  assert v[template.triangles[up]].mean((0, 1))[1] > v[template.triangles[lo]].mean((0, 1))[1]
  # The lips are a small part of the face, around the mouth landmarks.
  lips = np.concatenate([up, lo])
  tv = v[template.triangles]
  area = 0.5 * np.linalg.norm(np.cross(tv[:, 1] - tv[:, 0], tv[:, 2] - tv[:, 0]), axis=1)
  assert area[lips].sum() < 0.08 * area.sum()
  centre = v[template.triangles[lips]].mean((0, 1))
  mouth = v[template.landmarks[48:68]].mean(0)
  assert np.linalg.norm(centre - mouth) < 1.0


def test_outer_lip_contours_run_corner_to_corner_through_the_lip_landmarks(template):
  sem, lm = template.semantics, template.landmarks
  assert sem.upper_lip_contour[0] == lm[48] and sem.upper_lip_contour[-1] == lm[54]
  assert sem.lower_lip_contour[0] == lm[54] and sem.lower_lip_contour[-1] == lm[48]
  assert set(lm[49:54].tolist()) <= set(sem.upper_lip_contour.tolist())
  assert set(lm[55:60].tolist()) <= set(sem.lower_lip_contour.tolist())
  # Each contour vertex between the corners borders a triangle of its own lip.
  for contour, tris in ((sem.upper_lip_contour, sem.upper_lip_triangles),
                        (sem.lower_lip_contour, sem.lower_lip_triangles)):
    assert np.isin(contour[1:-1], template.triangles[tris]).all()


def test_jaw_candidates_are_horizontal_lines_towards_the_midline(template):
  v, sem = template.vertices, template.semantics
  assert sem.jaw_candidates.shape[0] == 17
  for j, cands in enumerate(sem.jaw_candidates):
    lm = template.landmarks[j]
    assert cands[0] == lm
    assert np.abs(v[cands, 1] - v[lm, 1]).max() < 0.31
    assert (np.abs(v[cands, 0]) <= np.abs(v[lm, 0]) + 1e-6).all()
  assert len(set(sem.jaw_candidates[0].tolist())) > 10  # the cheek lines are long


def test_boundary_loops_find_open_eyes_and_mouth(template):
  loops = semantics.boundary_loops(template.triangles)
  assert len(loops) == 4  # outer rim, two eyes, mouth
