"""Datasets and preprocessing (DESIGN.md, "Data").

Modules:

* ``schema``: the TFRecord schema (one record = F frames of one clip) shared by real and synthetic data.
* ``media``: image / video / frame-folder decoding with bad input as counted ``Drop`` reasons.
* ``face``: dlib detection, 68 landmarks, identity descriptors, crops (the 68-point model is trained on
  iBUG 300-W: non-commercial use only).
* ``lips``: lip masks, lip contours and their distance transforms (from dlib's 68 points or the face mesh).
* ``face_mesh``: MediaPipe's 468-point face mesh (LiteRT) on a dlib face, the default lip source;
  ``lip_quality`` (IoU against synthetic truth) and ``lip_overlays`` (pictures) compare it with dlib's.
* ``preprocess``: one work item -> records + drop counts (plain functions).
* ``prepare``: ``python -m data.prepare``, the Apache Beam preprocessing pipeline.
* ``pipeline``: tf.data readers (multi-frame samples, 3:1 mixing, deterministic mode).
* ``voxceleb``, ``emotionet``, ``bu3dfe``, ``lfw``: one module per dataset format (readers and writers);
  malformed files raise ``common.errors.FormatError`` naming file and line (``format_io``: shared helpers).
* ``synthetic``: ``python -m data.synthetic`` / ``ensure_synthetic_dataset``, the ground-truth dataset
  (package: ``config``, ``face_space``, ``sampling``, ``render``, ``write``, ``bu3dfe_export``).
* ``landmarks_eval``: landmark NME against dlib-XML annotations; ``benchmark``: throughput.

Nothing here imports ``training``; ``synthetic`` uses ``model`` (image formation).
"""
