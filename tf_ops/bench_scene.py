"""The benchmark scene, numpy only (also used by the TF-free GPU check on machines without TF)."""

from __future__ import annotations

import numpy as np


def subdivide(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Midpoint subdivision: every triangle becomes four; returns (vertices, triangles)."""
  edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), 1)
  unique, inverse = np.unique(edges, axis=0, return_inverse=True)
  mid = (vertices[unique[:, 0]] + vertices[unique[:, 1]]) / 2
  m = inverse.reshape(3, -1).T + len(vertices)  # midpoints of edges (01, 12, 20) per triangle
  a, b, c = triangles.T
  new = np.stack([np.stack([a, m[:, 0], m[:, 2]], 1), np.stack([m[:, 0], b, m[:, 1]], 1),
                  np.stack([m[:, 2], m[:, 1], c], 1), m], 1).reshape(-1, 3)
  return np.concatenate([vertices, mid]).astype(np.float32), new.astype(np.int32)


def scene_clip_vertices(vertices: np.ndarray, batch: int, seed: int = 0) -> np.ndarray:
  """Clip-space copies of the mesh seen by the benchmark camera, each rotated by +-3 degrees."""
  rng = np.random.default_rng(seed)
  centre = (vertices.min(0) + vertices.max(0)) / 2
  f = 1.0 / np.tan(np.radians(30.0) / 2)
  near, far = 1.0, 200.0
  projection = np.array([[f, 0, 0, 0], [0, f, 0, 0],
                         [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                         [0, 0, -1, 0]], np.float64)
  out = []
  for _ in range(batch):
    ax, ay, az = np.radians(rng.uniform(-3, 3, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    camera = (vertices - centre) @ (rz @ ry @ rx).T - np.array([0.0, 0.0, 46.75])
    out.append(np.c_[camera, np.ones(len(camera))] @ projection.T)
  return np.stack(out).astype(np.float32)
