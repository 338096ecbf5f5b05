"""The face model: template, deformation graph, learnable bases, camera, lighting, image formation.

Modules (import them directly; this package imports nothing eagerly):

* ``assets``: ICT face-area assets (``ict_face_dir``, ``load_face_area``, ICT identity/expression deltas).
* ``template``: ``load_template(region='narrow', subdivision_level=0) -> Template``.
* ``subdivision``: midpoint subdivision keeping original vertices first.
* ``semantics``: landmarks (68, ``LANDMARKS66``), jaw candidates, lip regions and outer contours.
* ``deformation_graph``: ``load_deformation_graph(template, num_nodes=521) -> DeformationGraph`` (cached).
* ``face_model``: ``FaceModel`` Keras layer (M_gid, M_gexp, M_R; orthogonalized identity), smoothness.
* ``camera``: ``Camera`` intrinsics, Euler pose, projection to pixels and clip space.
* ``lighting``: 9-coefficient SH Lambertian shading and light-rig helpers.
* ``landmarks``: per-pose landmark vertex selection (dynamic jaw contour).
* ``image_formation``: ``render(vertices, albedo, pose, sh, camera, mesh) -> dict``.
* ``export``: model .npz save/load, OBJ / PLY, UV-textured OBJ with a baked albedo.
* ``visualize``: image grids, Figure-1-style basis grids.
* ``demo`` (``python -m model.demo``), ``benchmark`` (``python -m model.benchmark``).
"""
