// Rasterizer math shared by the CPU and CUDA kernels (no TensorFlow, no CUDA runtime).
//
// Both devices run exactly these functions so that they agree on coverage, depth order and
// barycentrics. Conventions (see tf_ops/rasterizer.py): clip-space (x, y, z, w) input; pixel (ix, iy)
// samples NDC x = (ix + 0.5) * 2 / W - 1, y = 1 - (iy + 0.5) * 2 / H (row 0 is the top row).
#ifndef C3DMM_TF_OPS_RASTER_COMMON_H_
#define C3DMM_TF_OPS_RASTER_COMMON_H_

#include <cstdint>

#if defined(__CUDACC__)
#define C3DMM_HD __host__ __device__ __forceinline__
#else
#define C3DMM_HD inline
#endif

namespace c3dmm {

// Largest accepted image side (also MAX_IMAGE_SIZE in tf_ops/rasterizer.py).
constexpr int kMaxImageSize = 16384;
// Key of an empty z-buffer entry: larger than any (depth, triangle) key.
constexpr uint64_t kEmptyKey = ~0ull;

// Range of w for a usable vertex: [2^-120, 2^120] (about [7.5e-37, 1.3e36]). Within it 1 / w is a
// normal float, and at a covered pixel the sum of the perspective weights l_i / w_i (at least
// min(1 / w_i) / 3, at most 3 max(1 / w_i)) and its reciprocal are normal floats too, so barycentrics
// are finite and sum to 1 whether or not denormals are flushed to zero. A vertex outside the range
// (also w <= 0, NaN, or a non-finite or overflowing coordinate) is unusable, and every triangle using
// it is skipped.
constexpr float kMinW = 7.523163845e-37f;  // 2^-120
constexpr float kMaxW = 1.329227996e36f;   // 2^120

// A vertex projected to pixel coordinates; valid == false marks an unusable vertex (see kMinW).
struct ScreenVertex {
  float x, y, z;  // pixel column, pixel row (both continuous, centre of pixel 0 at 0), NDC depth
  float inv_w;    // 1 / w, for perspective-correct interpolation
  bool valid;
};

C3DMM_HD bool IsFinite(float v) { return v - v == 0.0f; }  // false for NaN and +-Inf

C3DMM_HD ScreenVertex ProjectVertex(const float* clip, int width, int height) {
  ScreenVertex s;
  const float w = clip[3];
  // The comparisons are false for NaN w; a denormal w fails them with or without flush-to-zero.
  s.valid = w >= kMinW && w <= kMaxW && IsFinite(clip[0]) && IsFinite(clip[1]) && IsFinite(clip[2]);
  const float inv_w = s.valid ? 1.0f / w : 0.0f;
  s.inv_w = inv_w;
  s.x = (clip[0] * inv_w + 1.0f) * 0.5f * width - 0.5f;
  s.y = (1.0f - clip[1] * inv_w) * 0.5f * height - 0.5f;
  s.z = clip[2] * inv_w;
  // Huge but finite coordinates can overflow to Inf after the division: treat as invalid.
  s.valid = s.valid && IsFinite(s.x) && IsFinite(s.y) && IsFinite(s.z);
  return s;
}

// Screen-space setup of one triangle: edge functions and the depth plane, normalized by the signed
// area so that both windings give non-negative weights inside. They are expressed relative to vertex
// 0 (ox, oy) rather than the image origin: far better conditioned for small triangles.
struct TriangleSetup {
  float ox, oy;      // vertex 0 in pixels
  float e0a, e0b;    // weight of vertex 0 = 1 + e0a * (px - ox) + e0b * (py - oy)
  float e1a, e1b;    // weight of vertex 1 = e1a * (px - ox) + e1b * (py - oy)
  float z0, za, zb;  // NDC depth = z0 + za * (px - ox) + zb * (py - oy)
  int x0, x1, y0, y1;  // inclusive pixel bounding box, clamped to the image
};

// Returns false when the triangle covers no pixel (invalid vertex, zero area, off screen).
C3DMM_HD bool SetupTriangle(const ScreenVertex& a, const ScreenVertex& b, const ScreenVertex& c,
                            int width, int height, TriangleSetup* t) {
  if (!(a.valid && b.valid && c.valid)) return false;
  const float area = (b.x - a.x) * (c.y - a.y) - (c.x - a.x) * (b.y - a.y);
  if (!(area != 0.0f) || !IsFinite(area)) return false;
  float min_x = a.x < b.x ? a.x : b.x, max_x = a.x > b.x ? a.x : b.x;
  float min_y = a.y < b.y ? a.y : b.y, max_y = a.y > b.y ? a.y : b.y;
  min_x = c.x < min_x ? c.x : min_x;
  max_x = c.x > max_x ? c.x : max_x;
  min_y = c.y < min_y ? c.y : min_y;
  max_y = c.y > max_y ? c.y : max_y;
  // Clamp in float before converting so that huge coordinates never overflow an int.
  if (max_x < 0.0f || max_y < 0.0f || min_x > width - 1.0f || min_y > height - 1.0f) return false;
  min_x = min_x < 0.0f ? 0.0f : min_x;
  min_y = min_y < 0.0f ? 0.0f : min_y;
  max_x = max_x > width - 1.0f ? width - 1.0f : max_x;
  max_y = max_y > height - 1.0f ? height - 1.0f : max_y;
  t->x0 = static_cast<int>(min_x);
  if (t->x0 < min_x) ++t->x0;  // ceil
  t->y0 = static_cast<int>(min_y);
  if (t->y0 < min_y) ++t->y0;
  t->x1 = static_cast<int>(max_x);  // floor (non-negative)
  t->y1 = static_cast<int>(max_y);
  if (t->x0 > t->x1 || t->y0 > t->y1) return false;
  const float inv = 1.0f / area;
  // Weight of a vertex = signed area of the sub-triangle opposite to it / total area.
  t->ox = a.x;
  t->oy = a.y;
  t->e0a = (b.y - c.y) * inv;
  t->e0b = (c.x - b.x) * inv;
  t->e1a = (c.y - a.y) * inv;
  t->e1b = (a.x - c.x) * inv;
  // z = z0 + l1 * (b.z - a.z) + l2 * (c.z - a.z), with l2 = 1 - l0 - l1 (zero at vertex 0).
  const float dz1 = b.z - a.z, dz2 = c.z - a.z;
  t->z0 = a.z;
  t->za = t->e1a * dz1 - (t->e0a + t->e1a) * dz2;
  t->zb = t->e1b * dz1 - (t->e0b + t->e1b) * dz2;
  return true;
}

// Screen-space (affine) barycentric weights of vertices 0 and 1 at pixel (px, py).
C3DMM_HD void EdgeWeights(const TriangleSetup& t, float px, float py, float* l0, float* l1) {
  const float dx = px - t.ox, dy = py - t.oy;
  *l0 = 1.0f + (t.e0a * dx + t.e0b * dy);
  *l1 = t.e1a * dx + t.e1b * dy;
}

// Depth at pixel (px, py) given its edge weights, and whether the fragment exists: the pixel centre
// is covered and the depth is within [-1, 1]. Written without short-circuits so that it compiles to
// straight-line code.
C3DMM_HD bool FragmentDepth(const TriangleSetup& t, float px, float py, float l0, float l1,
                            float* depth) {
  const float l2 = 1.0f - l0 - l1;
  const float z = t.z0 + (t.za * (px - t.ox) + t.zb * (py - t.oy));
  *depth = z;
  return (l0 >= 0.0f) & (l1 >= 0.0f) & (l2 >= 0.0f) & (z >= -1.0f) & (z <= 1.0f);
}

// Perspective-correct barycentrics from the screen-space weights (l0, l1, 1 - l0 - l1) and the
// vertices' 1 / w: b_i = l_i / w_i / sum_j (l_j / w_j).
C3DMM_HD void PerspectiveBarycentrics(float l0, float l1, float inv_w0, float inv_w1, float inv_w2,
                                      float* bary) {
  const float p0 = l0 * inv_w0, p1 = l1 * inv_w1, p2 = (1.0f - l0 - l1) * inv_w2;
  const float sum = p0 + p1 + p2;
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  bary[0] = p0 * inv;
  bary[1] = p1 * inv;
  bary[2] = p2 * inv;
}

// Orders (depth, triangle) pairs: smaller depth first, then smaller triangle id. Depth is in [-1, 1].
C3DMM_HD uint64_t DepthKey(float depth, int32_t triangle) {
  union {
    float f;
    uint32_t u;
  } bits;
  bits.f = depth + 0.0f;  // -0 -> +0 so that equal depths give equal keys
  const uint32_t ordered = (bits.u & 0x80000000u) ? ~bits.u : (bits.u | 0x80000000u);
  return (static_cast<uint64_t>(ordered) << 32) | static_cast<uint32_t>(triangle);
}

C3DMM_HD float KeyDepth(uint64_t key) {
  const uint32_t ordered = static_cast<uint32_t>(key >> 32);
  union {
    float f;
    uint32_t u;
  } bits;
  bits.u = (ordered & 0x80000000u) ? (ordered & 0x7fffffffu) : ~ordered;
  return bits.f;
}

// inv_width = 1 / width, inv_height = 1 / height (precomputed: no division per pixel).
C3DMM_HD float PixelNdcX(int ix, float inv_width) { return (2 * ix + 1) * inv_width - 1.0f; }
C3DMM_HD float PixelNdcY(int iy, float inv_height) { return 1.0f - (2 * iy + 1) * inv_height; }

// Homogeneous 2D vertex (x, y, w) of clip-space vertex index i.
struct Hom {
  float x, y, w;
};

C3DMM_HD Hom LoadHom(const float* clip_vertices, int vertex) {
  const float* v = clip_vertices + 4 * static_cast<int64_t>(vertex);
  return Hom{v[0], v[1], v[3]};
}

C3DMM_HD Hom Cross(const Hom& a, const Hom& b) {
  return Hom{a.y * b.w - a.w * b.y, a.w * b.x - a.x * b.w, a.x * b.y - a.y * b.x};
}

C3DMM_HD float Dot(const Hom& a, const Hom& b) { return a.x * b.x + a.y * b.y + a.w * b.w; }

// Gradient of a loss with respect to the (x, y, w) of v0, v1, v2, given the pixel's barycentrics
// `bary` (as computed by Barycentrics) and dL/d(barycentrics) `grad_bary` at p.
// With u_j = p . (v_{j+1} x v_{j+2}), S = sum u = p . ((v1 - v0) x (v2 - v0)) and b_j = u_j / S:
// dL/du_j = (g_j - g . b) / S, and collecting du_j/dv_k over j gives
// dL/dv_k = (gu_{k-1} v_{k+1} - gu_{k+1} v_{k-1}) x p.
C3DMM_HD void BarycentricsGrad(const Hom* v, const Hom& p, const float* bary, const float* grad_bary,
                               Hom* grad_v) {
  const Hom e1{v[1].x - v[0].x, v[1].y - v[0].y, v[1].w - v[0].w};
  const Hom e2{v[2].x - v[0].x, v[2].y - v[0].y, v[2].w - v[0].w};
  const float sum = Dot(p, Cross(e1, e2));
  if (!(sum != 0.0f) || !IsFinite(sum)) {  // degenerate, or overflowing (huge coordinates)
    grad_v[0] = grad_v[1] = grad_v[2] = Hom{0.0f, 0.0f, 0.0f};
    return;
  }
  const float inv = 1.0f / sum;
  const float gb = grad_bary[0] * bary[0] + grad_bary[1] * bary[1] + grad_bary[2] * bary[2];
  const float gu0 = (grad_bary[0] - gb) * inv;
  const float gu1 = (grad_bary[1] - gb) * inv;
  const float gu2 = (grad_bary[2] - gb) * inv;
  // k = 0: gu2 v1 - gu1 v2; k = 1: gu0 v2 - gu2 v0; k = 2: gu1 v0 - gu0 v1.
  grad_v[0] = Cross(Hom{gu2 * v[1].x - gu1 * v[2].x, gu2 * v[1].y - gu1 * v[2].y,
                        gu2 * v[1].w - gu1 * v[2].w}, p);
  grad_v[1] = Cross(Hom{gu0 * v[2].x - gu2 * v[0].x, gu0 * v[2].y - gu2 * v[0].y,
                        gu0 * v[2].w - gu2 * v[0].w}, p);
  grad_v[2] = Cross(Hom{gu1 * v[0].x - gu0 * v[1].x, gu1 * v[0].y - gu0 * v[1].y,
                        gu1 * v[0].w - gu0 * v[1].w}, p);
}

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_RASTER_COMMON_H_
