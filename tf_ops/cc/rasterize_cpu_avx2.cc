// AVX2 path of the CPU rasterizer (see rasterize_cpu_paths.h for the contract: bit-identical to the
// baseline path in rasterize_cpu.cc).
//
// Forward: vertices are projected once into structure-of-arrays planes; triangles are set up 8 at a
// time (gathers, the arithmetic of SetupTriangle lane by lane); each surviving triangle tests 8 pixels
// per step (4 pixels of 2 rows when it is at most 4 pixels wide) against structure-of-arrays depth /
// id / weight planes with blended stores.
// Backward: the covered pixels of the band are compacted into structure-of-arrays lists, the
// gradient of 8 pixels is computed per step (the arithmetic of BarycentricsGrad lane by lane), and the
// results are accumulated into the vertices in pixel order, exactly as the baseline does.
// Every function here carries target("avx2") (never FMA: a fused multiply-add would round
// differently), so the library is built without -mavx2 and runs on any x86-64 CPU.
#include "tf_ops/cc/rasterize_cpu_paths.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "tf_ops/cc/raster_common.h"

#define C3DMM_AVX2 __attribute__((target("avx2")))

namespace c3dmm {

namespace {

// Per-thread buffers, reused across calls so that an ordinary call allocates nothing.
struct Scratch {
  std::vector<float> x, y, z, inv_w;            // projected vertices; x is NaN for unusable ones
  std::vector<float> depth, l0, l1;              // band planes, `stride` floats per row
  std::vector<int32_t> id;
  std::vector<float> px, py, b0, b1, b2, g0, g1, g2;  // backward: compacted covered pixels
  std::vector<int32_t> tri;
};

// Buffers larger than this (in total) are released after the call instead of kept for the next.
constexpr size_t kKeepBytes = size_t{64} << 20;

Scratch& LocalScratch() {
  static thread_local Scratch scratch;
  return scratch;
}

template <typename T>
size_t Bytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

void TrimScratch(Scratch* s) {
  const size_t total = Bytes(s->x) + Bytes(s->y) + Bytes(s->z) + Bytes(s->inv_w) + Bytes(s->depth) +
                       Bytes(s->l0) + Bytes(s->l1) + Bytes(s->id) + Bytes(s->px) + Bytes(s->py) +
                       Bytes(s->b0) + Bytes(s->b1) + Bytes(s->b2) + Bytes(s->g0) + Bytes(s->g1) +
                       Bytes(s->g2) + Bytes(s->tri);
  if (total > kKeepBytes) *s = Scratch();
}

// Largest counts for which the index arithmetic below (3 * triangle, in int32 lanes) cannot
// overflow; larger inputs take the baseline path.
// Pixels per block of the backward's compacted lists (the sanitizer build makes it tiny so that its
// fuzz cases cross block boundaries).
#ifndef C3DMM_GRAD_BLOCK_PIXELS
#define C3DMM_GRAD_BLOCK_PIXELS (1 << 16)
#endif
constexpr int32_t kGradBlockPixels = C3DMM_GRAD_BLOCK_PIXELS;

constexpr int64_t kMaxSimdTriangles = (int64_t{1} << 31) / 3 - 8;

C3DMM_AVX2 inline __m256 Lanes() { return _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7); }

// Loads 8 consecutive (x, y, z, w) records as four 8-lane vectors.
C3DMM_AVX2 inline void LoadRows(const float* p, __m256* x, __m256* y, __m256* z, __m256* w) {
  const __m256 t0 = _mm256_loadu2_m128(p + 16, p);  // records 0 and 4
  const __m256 t1 = _mm256_loadu2_m128(p + 20, p + 4);
  const __m256 t2 = _mm256_loadu2_m128(p + 24, p + 8);
  const __m256 t3 = _mm256_loadu2_m128(p + 28, p + 12);
  const __m256 u0 = _mm256_unpacklo_ps(t0, t1), u1 = _mm256_unpackhi_ps(t0, t1);
  const __m256 u2 = _mm256_unpacklo_ps(t2, t3), u3 = _mm256_unpackhi_ps(t2, t3);
  *x = _mm256_shuffle_ps(u0, u2, 0x44);
  *y = _mm256_shuffle_ps(u0, u2, 0xEE);
  *z = _mm256_shuffle_ps(u1, u3, 0x44);
  *w = _mm256_shuffle_ps(u1, u3, 0xEE);
}

// Stores three 8-lane vectors as 8 consecutive (a, b, c) triples.
C3DMM_AVX2 inline void StoreTriples(__m256 a, __m256 b, __m256 c, float* p) {
  const __m256 ab = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 bc = _mm256_shuffle_ps(b, c, _MM_SHUFFLE(3, 1, 3, 1));
  const __m256 ca = _mm256_shuffle_ps(c, a, _MM_SHUFFLE(3, 1, 2, 0));
  const __m256 r03 = _mm256_shuffle_ps(ab, ca, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 r14 = _mm256_shuffle_ps(bc, ab, _MM_SHUFFLE(3, 1, 2, 0));
  const __m256 r25 = _mm256_shuffle_ps(ca, bc, _MM_SHUFFLE(3, 1, 3, 1));
  _mm256_storeu_ps(p, _mm256_permute2f128_ps(r03, r14, 0x20));
  _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(r25, r03, 0x30));
  _mm256_storeu_ps(p + 16, _mm256_permute2f128_ps(r14, r25, 0x31));
}

C3DMM_AVX2 inline __m256 IsFiniteMask(__m256 v) {
  return _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_EQ_OQ);
}

C3DMM_AVX2 inline __m256 AllFinite(__m256 a, __m256 b, __m256 c) {
  return _mm256_and_ps(IsFiniteMask(a), _mm256_and_ps(IsFiniteMask(b), IsFiniteMask(c)));
}

// Setup of 8 triangles, lane by lane the arithmetic of SetupTriangle (whose scalar results it must
// reproduce bit for bit), already clipped to the band's rows.
struct SetupLanes {
  alignas(32) float ox[8], oy[8], e0a[8], e0b[8], e1a[8], e1b[8], z0[8], za[8], zb[8];
  alignas(32) int32_t x0[8], x1[8], y0[8], y1[8];
};

// Returns the bit mask of lanes whose triangle covers a pixel of the band. Lanes >= `count` are off.
C3DMM_AVX2 int SetupEight(const Scratch& s, const int32_t* tri, int count, int32_t width,
                          int32_t height, int32_t row_begin, int32_t row_last, SetupLanes* out) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
  const __m256i offsets = _mm256_mullo_epi32(lane, _mm256_set1_epi32(3));
  __m256i idx[3];
  for (int k = 0; k < 3; ++k) {
    idx[k] = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), tri,
                                         _mm256_add_epi32(offsets, _mm256_set1_epi32(k)), live, 4);
  }
  const __m256 ax = _mm256_i32gather_ps(s.x.data(), idx[0], 4);
  const __m256 ay = _mm256_i32gather_ps(s.y.data(), idx[0], 4);
  const __m256 az = _mm256_i32gather_ps(s.z.data(), idx[0], 4);
  const __m256 bx = _mm256_i32gather_ps(s.x.data(), idx[1], 4);
  const __m256 by = _mm256_i32gather_ps(s.y.data(), idx[1], 4);
  const __m256 bz = _mm256_i32gather_ps(s.z.data(), idx[1], 4);
  const __m256 cx = _mm256_i32gather_ps(s.x.data(), idx[2], 4);
  const __m256 cy = _mm256_i32gather_ps(s.y.data(), idx[2], 4);
  const __m256 cz = _mm256_i32gather_ps(s.z.data(), idx[2], 4);
  // An unusable vertex has x = NaN, which makes the area NaN: rejected like !valid in SetupTriangle.
  const __m256 area = _mm256_sub_ps(_mm256_mul_ps(_mm256_sub_ps(bx, ax), _mm256_sub_ps(cy, ay)),
                                    _mm256_mul_ps(_mm256_sub_ps(cx, ax), _mm256_sub_ps(by, ay)));
  const __m256 zero = _mm256_setzero_ps();
  __m256 ok = _mm256_and_ps(_mm256_castsi256_ps(live),
                            _mm256_and_ps(_mm256_cmp_ps(area, zero, _CMP_NEQ_UQ), IsFiniteMask(area)));
  // min_ps(a, b) is a < b ? a : b and max_ps(a, b) is a > b ? a : b: the ternaries of SetupTriangle.
  __m256 min_x = _mm256_min_ps(_mm256_min_ps(ax, bx), cx);
  __m256 max_x = _mm256_max_ps(_mm256_max_ps(ax, bx), cx);
  __m256 min_y = _mm256_min_ps(_mm256_min_ps(ay, by), cy);
  __m256 max_y = _mm256_max_ps(_mm256_max_ps(ay, by), cy);
  const __m256 last_x = _mm256_set1_ps(width - 1.0f), last_y = _mm256_set1_ps(height - 1.0f);
  const __m256 off = _mm256_or_ps(
      _mm256_or_ps(_mm256_cmp_ps(max_x, zero, _CMP_LT_OQ), _mm256_cmp_ps(max_y, zero, _CMP_LT_OQ)),
      _mm256_or_ps(_mm256_cmp_ps(min_x, last_x, _CMP_GT_OQ),
                   _mm256_cmp_ps(min_y, last_y, _CMP_GT_OQ)));
  ok = _mm256_andnot_ps(off, ok);
  if (_mm256_movemask_ps(ok) == 0) return 0;
  min_x = _mm256_max_ps(min_x, zero);  // -0 becomes +0 here, not in SetupTriangle: same integer
  min_y = _mm256_max_ps(min_y, zero);
  max_x = _mm256_min_ps(max_x, last_x);
  max_y = _mm256_min_ps(max_y, last_y);
  // ceil for the lower bounds (int conversion, then +1 where it truncated), floor for the upper.
  // Lanes that are not ok may hold NaN or huge values: their integers are never used.
  __m256i x0 = _mm256_cvttps_epi32(min_x), y0 = _mm256_cvttps_epi32(min_y);
  x0 = _mm256_sub_epi32(x0, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(x0), min_x, _CMP_LT_OQ)));
  y0 = _mm256_sub_epi32(y0, _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtepi32_ps(y0), min_y, _CMP_LT_OQ)));
  const __m256i x1 = _mm256_cvttps_epi32(max_x);
  __m256i y1 = _mm256_cvttps_epi32(max_y);
  y0 = _mm256_max_epi32(y0, _mm256_set1_epi32(row_begin));
  y1 = _mm256_min_epi32(y1, _mm256_set1_epi32(row_last));
  const __m256i empty = _mm256_or_si256(_mm256_cmpgt_epi32(x0, x1), _mm256_cmpgt_epi32(y0, y1));
  ok = _mm256_andnot_ps(_mm256_castsi256_ps(empty), ok);
  const int mask = _mm256_movemask_ps(ok);
  if (mask == 0) return 0;
  const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), area);
  const __m256 e0a = _mm256_mul_ps(_mm256_sub_ps(by, cy), inv);
  const __m256 e0b = _mm256_mul_ps(_mm256_sub_ps(cx, bx), inv);
  const __m256 e1a = _mm256_mul_ps(_mm256_sub_ps(cy, ay), inv);
  const __m256 e1b = _mm256_mul_ps(_mm256_sub_ps(ax, cx), inv);
  const __m256 dz1 = _mm256_sub_ps(bz, az), dz2 = _mm256_sub_ps(cz, az);
  _mm256_store_ps(out->ox, ax);
  _mm256_store_ps(out->oy, ay);
  _mm256_store_ps(out->e0a, e0a);
  _mm256_store_ps(out->e0b, e0b);
  _mm256_store_ps(out->e1a, e1a);
  _mm256_store_ps(out->e1b, e1b);
  _mm256_store_ps(out->z0, az);
  _mm256_store_ps(out->za, _mm256_sub_ps(_mm256_mul_ps(e1a, dz1),
                                         _mm256_mul_ps(_mm256_add_ps(e0a, e1a), dz2)));
  _mm256_store_ps(out->zb, _mm256_sub_ps(_mm256_mul_ps(e1b, dz1),
                                         _mm256_mul_ps(_mm256_add_ps(e0b, e1b), dz2)));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->x0), x0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->x1), x1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->y0), y0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out->y1), y1);
  return mask;
}

// Draws lane `j` of `set` (triangle id `t`) into the band planes: 8 pixels of a row per step, or 4
// pixels of two rows for a triangle at most 4 pixels wide.
C3DMM_AVX2 void DrawTriangle(const SetupLanes& set, int j, int32_t t, int32_t row_begin, int32_t stride,
                             Scratch* s) {
  const __m256 ox = _mm256_set1_ps(set.ox[j]), oy = _mm256_set1_ps(set.oy[j]);
  const __m256 e0a = _mm256_set1_ps(set.e0a[j]), e0b = _mm256_set1_ps(set.e0b[j]);
  const __m256 e1a = _mm256_set1_ps(set.e1a[j]), e1b = _mm256_set1_ps(set.e1b[j]);
  const __m256 z0 = _mm256_set1_ps(set.z0[j]), za = _mm256_set1_ps(set.za[j]);
  const __m256 zb = _mm256_set1_ps(set.zb[j]);
  const __m256 one = _mm256_set1_ps(1.0f), minus_one = _mm256_set1_ps(-1.0f);
  const __m256 zero = _mm256_setzero_ps();
  const __m256 id = _mm256_castsi256_ps(_mm256_set1_epi32(t));
  const int32_t x0 = set.x0[j], x1 = set.x1[j], y1 = set.y1[j];
  const __m256 end = _mm256_set1_ps(static_cast<float>(x1) + 0.5f);
  int32_t iy = set.y0[j];
  if (x1 - x0 < 4) {
    // At most 4 pixels wide (most triangles of a dense mesh): two rows per step, 4 lanes each.
    const __m256 px = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(x0)),
                                    _mm256_setr_ps(0, 1, 2, 3, 0, 1, 2, 3));
    const __m256 lane_row = _mm256_setr_ps(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256 dx = _mm256_sub_ps(px, ox);
    const __m256 e0adx = _mm256_mul_ps(e0a, dx), e1adx = _mm256_mul_ps(e1a, dx);
    const __m256 zadx = _mm256_mul_ps(za, dx);
    const __m256 inside = _mm256_cmp_ps(px, end, _CMP_LT_OQ);
    for (; iy < y1; iy += 2) {
      const __m256 dy = _mm256_sub_ps(_mm256_add_ps(_mm256_set1_ps(static_cast<float>(iy)), lane_row), oy);
      const __m256 l0 = _mm256_add_ps(one, _mm256_add_ps(e0adx, _mm256_mul_ps(e0b, dy)));
      const __m256 l1 = _mm256_add_ps(e1adx, _mm256_mul_ps(e1b, dy));
      const __m256 l2 = _mm256_sub_ps(_mm256_sub_ps(one, l0), l1);
      const __m256 z = _mm256_add_ps(z0, _mm256_add_ps(zadx, _mm256_mul_ps(zb, dy)));
      const int64_t a = static_cast<int64_t>(iy - row_begin) * stride + x0, b = a + stride;
      float* depth = s->depth.data();
      float* l0p = s->l0.data();
      float* l1p = s->l1.data();
      float* idp = reinterpret_cast<float*>(s->id.data());
      const __m256 old = _mm256_loadu2_m128(depth + b, depth + a);
      __m256 win = _mm256_and_ps(_mm256_cmp_ps(l0, zero, _CMP_GE_OQ), _mm256_cmp_ps(l1, zero, _CMP_GE_OQ));
      win = _mm256_and_ps(win, _mm256_cmp_ps(l2, zero, _CMP_GE_OQ));
      win = _mm256_and_ps(win, _mm256_and_ps(_mm256_cmp_ps(z, minus_one, _CMP_GE_OQ),
                                             _mm256_cmp_ps(z, one, _CMP_LE_OQ)));
      win = _mm256_and_ps(win, _mm256_and_ps(_mm256_cmp_ps(z, old, _CMP_LT_OQ), inside));
      _mm256_storeu2_m128(depth + b, depth + a, _mm256_blendv_ps(old, z, win));
      _mm256_storeu2_m128(l0p + b, l0p + a, _mm256_blendv_ps(_mm256_loadu2_m128(l0p + b, l0p + a), l0, win));
      _mm256_storeu2_m128(l1p + b, l1p + a, _mm256_blendv_ps(_mm256_loadu2_m128(l1p + b, l1p + a), l1, win));
      _mm256_storeu2_m128(idp + b, idp + a, _mm256_blendv_ps(_mm256_loadu2_m128(idp + b, idp + a), id, win));
    }
  }
  for (; iy <= y1; ++iy) {  // 8 pixels of a row per step (also the last row of a narrow triangle)
    const __m256 dy = _mm256_sub_ps(_mm256_set1_ps(static_cast<float>(iy)), oy);
    const __m256 edy0 = _mm256_mul_ps(e0b, dy), edy1 = _mm256_mul_ps(e1b, dy), zdy = _mm256_mul_ps(zb, dy);
    const int64_t row = static_cast<int64_t>(iy - row_begin) * stride;
    float* depth = s->depth.data() + row;
    float* l0p = s->l0.data() + row;
    float* l1p = s->l1.data() + row;
    float* idp = reinterpret_cast<float*>(s->id.data() + row);
    for (int32_t ix = x0; ix <= x1; ix += 8) {
      const __m256 px = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(ix)), Lanes());  // exact
      const __m256 dx = _mm256_sub_ps(px, ox);
      const __m256 l0 = _mm256_add_ps(one, _mm256_add_ps(_mm256_mul_ps(e0a, dx), edy0));
      const __m256 l1 = _mm256_add_ps(_mm256_mul_ps(e1a, dx), edy1);
      const __m256 l2 = _mm256_sub_ps(_mm256_sub_ps(one, l0), l1);
      const __m256 z = _mm256_add_ps(z0, _mm256_add_ps(_mm256_mul_ps(za, dx), zdy));
      const __m256 old = _mm256_loadu_ps(depth + ix);
      __m256 win = _mm256_and_ps(_mm256_cmp_ps(l0, zero, _CMP_GE_OQ), _mm256_cmp_ps(l1, zero, _CMP_GE_OQ));
      win = _mm256_and_ps(win, _mm256_cmp_ps(l2, zero, _CMP_GE_OQ));
      win = _mm256_and_ps(win, _mm256_and_ps(_mm256_cmp_ps(z, minus_one, _CMP_GE_OQ),
                                             _mm256_cmp_ps(z, one, _CMP_LE_OQ)));
      win = _mm256_and_ps(win, _mm256_and_ps(_mm256_cmp_ps(z, old, _CMP_LT_OQ),
                                             _mm256_cmp_ps(px, end, _CMP_LT_OQ)));
      _mm256_storeu_ps(depth + ix, _mm256_blendv_ps(old, z, win));
      _mm256_storeu_ps(l0p + ix, _mm256_blendv_ps(_mm256_loadu_ps(l0p + ix), l0, win));
      _mm256_storeu_ps(l1p + ix, _mm256_blendv_ps(_mm256_loadu_ps(l1p + ix), l1, win));
      _mm256_storeu_ps(idp + ix, _mm256_blendv_ps(_mm256_loadu_ps(idp + ix), id, win));
    }
  }
}

}  // namespace

C3DMM_AVX2 void RasterizeBandAvx2(const float* clip_vertices, int32_t num_vertices,
                                  const int32_t* triangles, int32_t num_triangles, int32_t height,
                                  int32_t width, int32_t row_begin, int32_t row_end,
                                  int32_t* triangle_ids, float* barycentrics, float* depth) {
  const int32_t band_rows = row_end - row_begin;
  if (band_rows <= 0) return;
  if (num_triangles > kMaxSimdTriangles) {
    RasterizeBandBaseline(clip_vertices, num_vertices, triangles, num_triangles, height, width,
                          row_begin, row_end, triangle_ids, barycentrics, depth);
    return;
  }
  Scratch& s = LocalScratch();
  // At least one element each: gathers of masked-off lanes still form the base address.
  const size_t verts = std::max<int32_t>(num_vertices, 1);
  s.x.assign(verts, std::numeric_limits<float>::quiet_NaN());
  s.y.assign(verts, 0.0f);
  s.z.assign(verts, 0.0f);
  s.inv_w.assign(verts, 0.0f);
  int32_t first_scalar = 0;
  if (num_vertices >= 8) {  // ProjectVertex, 8 vertices per step
    const __m256 min_w = _mm256_set1_ps(kMinW), max_w = _mm256_set1_ps(kMaxW);
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 fw = _mm256_set1_ps(static_cast<float>(width));
    const __m256 fh = _mm256_set1_ps(static_cast<float>(height));
    const __m256 nan = _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN());
    for (; first_scalar + 8 <= num_vertices; first_scalar += 8) {
      __m256 cx, cy, cz, cw;
      LoadRows(clip_vertices + 4 * static_cast<int64_t>(first_scalar), &cx, &cy, &cz, &cw);
      __m256 valid = _mm256_and_ps(_mm256_cmp_ps(cw, min_w, _CMP_GE_OQ),
                                   _mm256_cmp_ps(cw, max_w, _CMP_LE_OQ));
      valid = _mm256_and_ps(valid, AllFinite(cx, cy, cz));
      const __m256 inv_w = _mm256_and_ps(valid, _mm256_div_ps(one, cw));
      // (x * inv_w + 1) * 0.5 * width - 0.5 and (1 - y * inv_w) * 0.5 * height - 0.5.
      const __m256 nx = _mm256_add_ps(_mm256_mul_ps(cx, inv_w), one);
      const __m256 ny = _mm256_sub_ps(one, _mm256_mul_ps(cy, inv_w));
      const __m256 sx = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(nx, half), fw), half);
      const __m256 sy = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(ny, half), fh), half);
      const __m256 sz = _mm256_mul_ps(cz, inv_w);
      valid = _mm256_and_ps(valid, AllFinite(sx, sy, sz));
      _mm256_storeu_ps(s.x.data() + first_scalar, _mm256_blendv_ps(nan, sx, valid));
      _mm256_storeu_ps(s.y.data() + first_scalar, sy);
      _mm256_storeu_ps(s.z.data() + first_scalar, sz);
      _mm256_storeu_ps(s.inv_w.data() + first_scalar, inv_w);
    }
  }
  for (int32_t v = first_scalar; v < num_vertices; ++v) {
    const ScreenVertex sv = ProjectVertex(clip_vertices + 4 * static_cast<int64_t>(v), width, height);
    s.x[v] = sv.valid ? sv.x : std::numeric_limits<float>::quiet_NaN();
    s.y[v] = sv.y;
    s.z[v] = sv.z;
    s.inv_w[v] = sv.inv_w;
  }
  // Rows are padded so that an 8-pixel step starting at any x <= width - 1 stays inside the row.
  const int32_t stride = (width + 7 + 7) / 8 * 8;
  const size_t plane = static_cast<size_t>(band_rows) * stride;
  s.depth.assign(plane, 2.0f);  // farther than any accepted fragment (<= 1)
  s.l0.assign(plane, 0.0f);
  s.l1.assign(plane, 0.0f);
  s.id.assign(plane, -1);
  // Triangles in increasing id, strictly nearer wins: the baseline's (and CUDA's) tie rule.
  SetupLanes set;
  for (int32_t t = 0; t < num_triangles; t += 8) {
    const int count = std::min<int32_t>(8, num_triangles - t);
    int mask = SetupEight(s, triangles + 3 * static_cast<int64_t>(t), count, width, height, row_begin,
                          row_end - 1, &set);
    while (mask != 0) {
      const int j = __builtin_ctz(mask);
      mask &= mask - 1;
      DrawTriangle(set, j, t + j, row_begin, stride, &s);
    }
  }
  // Resolve: ids, depth and perspective-correct barycentrics (PerspectiveBarycentrics, 8 lanes).
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi32(3);
  const float* inv_w_plane = s.inv_w.data();
  for (int32_t r = 0; r < band_rows; ++r) {
    const int64_t out_row = static_cast<int64_t>(row_begin + r) * width;
    const int64_t row = static_cast<int64_t>(r) * stride;
    int32_t ix = 0;
    for (; ix + 8 <= width; ix += 8) {
      const __m256i id = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.id.data() + row + ix));
      const __m256i hit = _mm256_cmpgt_epi32(id, _mm256_set1_epi32(-1));
      float* bary = barycentrics + 3 * (out_row + ix);
      if (_mm256_testz_si256(hit, hit)) {  // 8 background pixels
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(triangle_ids + out_row + ix), id);
        _mm256_storeu_ps(depth + out_row + ix, one);
        _mm256_storeu_ps(bary, zero);
        _mm256_storeu_ps(bary + 8, zero);
        _mm256_storeu_ps(bary + 16, zero);
        continue;
      }
      const __m256i base = _mm256_mullo_epi32(_mm256_and_si256(id, hit), three);
      // Background lanes gather nothing (there may be no triangle at all) and read vertex 0.
      __m256 iw[3];
      for (int k = 0; k < 3; ++k) {
        const __m256i vertex = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), triangles + k, base,
                                                           hit, 4);
        iw[k] = _mm256_i32gather_ps(inv_w_plane, vertex, 4);
      }
      const __m256 iw0 = iw[0], iw1 = iw[1], iw2 = iw[2];
      const __m256 l0 = _mm256_loadu_ps(s.l0.data() + row + ix);
      const __m256 l1 = _mm256_loadu_ps(s.l1.data() + row + ix);
      const __m256 p0 = _mm256_mul_ps(l0, iw0), p1 = _mm256_mul_ps(l1, iw1);
      const __m256 p2 = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(one, l0), l1), iw2);
      const __m256 sum = _mm256_add_ps(_mm256_add_ps(p0, p1), p2);
      const __m256 keep = _mm256_and_ps(_mm256_castsi256_ps(hit), _mm256_cmp_ps(sum, zero, _CMP_GT_OQ));
      const __m256 inv = _mm256_and_ps(keep, _mm256_div_ps(one, sum));
      StoreTriples(_mm256_mul_ps(p0, inv), _mm256_mul_ps(p1, inv), _mm256_mul_ps(p2, inv), bary);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(triangle_ids + out_row + ix), id);
      _mm256_storeu_ps(depth + out_row + ix, _mm256_blendv_ps(one, _mm256_loadu_ps(s.depth.data() + row + ix),
                                                              _mm256_castsi256_ps(hit)));
    }
    for (; ix < width; ++ix) {
      const int64_t p = out_row + ix;
      const int32_t id = s.id[row + ix];
      float* bary = barycentrics + 3 * p;
      triangle_ids[p] = id;
      if (id < 0) {
        depth[p] = 1.0f;
        bary[0] = bary[1] = bary[2] = 0.0f;
        continue;
      }
      depth[p] = s.depth[row + ix];
      const int32_t* tri = triangles + 3 * static_cast<int64_t>(id);
      PerspectiveBarycentrics(s.l0[row + ix], s.l1[row + ix], s.inv_w[tri[0]], s.inv_w[tri[1]],
                              s.inv_w[tri[2]], bary);
    }
  }
  TrimScratch(&s);
}

namespace {

// kCompact.index[mask] lists the set bits of `mask` first (in increasing order): the permutation that
// packs the selected lanes of an 8-lane vector to its front.
struct CompactTable {
  alignas(32) int32_t index[256][8];
  CompactTable() {
    for (int mask = 0; mask < 256; ++mask) {
      int n = 0;
      for (int j = 0; j < 8; ++j) {
        if (mask & (1 << j)) index[mask][n++] = j;
      }
      for (; n < 8; ++n) index[mask][n] = 0;
    }
  }
};
const CompactTable kCompact;

// Loads 8 consecutive (a, b, c) triples as three 8-lane vectors.
C3DMM_AVX2 inline void LoadTriples(const float* p, __m256* a, __m256* b, __m256* c) {
  __m256 m03 = _mm256_castps128_ps256(_mm_loadu_ps(p));
  __m256 m14 = _mm256_castps128_ps256(_mm_loadu_ps(p + 4));
  __m256 m25 = _mm256_castps128_ps256(_mm_loadu_ps(p + 8));
  m03 = _mm256_insertf128_ps(m03, _mm_loadu_ps(p + 12), 1);
  m14 = _mm256_insertf128_ps(m14, _mm_loadu_ps(p + 16), 1);
  m25 = _mm256_insertf128_ps(m25, _mm_loadu_ps(p + 20), 1);
  const __m256 xy = _mm256_shuffle_ps(m14, m25, _MM_SHUFFLE(2, 1, 3, 2));
  const __m256 yz = _mm256_shuffle_ps(m03, m14, _MM_SHUFFLE(1, 0, 2, 1));
  *a = _mm256_shuffle_ps(m03, xy, _MM_SHUFFLE(2, 0, 3, 0));
  *b = _mm256_shuffle_ps(yz, xy, _MM_SHUFFLE(3, 1, 2, 0));
  *c = _mm256_shuffle_ps(yz, m25, _MM_SHUFFLE(3, 0, 3, 1));
}

// Loads (x, y, w) of the vertices `index[0..7]` of clip_vertices as three 8-lane vectors.
C3DMM_AVX2 inline void LoadHomLanes(const float* clip_vertices, const int32_t* index, __m256* x,
                                    __m256* y, __m256* w) {
  __m128 r[8];
  for (int j = 0; j < 8; ++j) r[j] = _mm_loadu_ps(clip_vertices + 4 * static_cast<int64_t>(index[j]));
  const __m256 t0 = _mm256_insertf128_ps(_mm256_castps128_ps256(r[0]), r[4], 1);
  const __m256 t1 = _mm256_insertf128_ps(_mm256_castps128_ps256(r[1]), r[5], 1);
  const __m256 t2 = _mm256_insertf128_ps(_mm256_castps128_ps256(r[2]), r[6], 1);
  const __m256 t3 = _mm256_insertf128_ps(_mm256_castps128_ps256(r[3]), r[7], 1);
  const __m256 u0 = _mm256_unpacklo_ps(t0, t1);  // x0 x1 y0 y1 | x4 x5 y4 y5
  const __m256 u1 = _mm256_unpackhi_ps(t0, t1);  // z0 z1 w0 w1 | z4 z5 w4 w5
  const __m256 u2 = _mm256_unpacklo_ps(t2, t3);
  const __m256 u3 = _mm256_unpackhi_ps(t2, t3);
  *x = _mm256_shuffle_ps(u0, u2, 0x44);
  *y = _mm256_shuffle_ps(u0, u2, 0xEE);
  *w = _mm256_shuffle_ps(u1, u3, 0xEE);
}

// Gradients of the n compacted pixels in s (8 per step), added to the vertices in pixel order.
C3DMM_AVX2 void AccumulateCompacted(const float* clip_vertices, const int32_t* triangles, size_t n,
                                    Scratch& s, float* grad_vertices) {
  if (n == 0) return;
  // Pad the last step with copies of the first pixel; their results are not accumulated.
  for (size_t i = n; i % 8 != 0; ++i) {
    s.px[i] = s.px[0];
    s.py[i] = s.py[0];
    s.b0[i] = s.b0[0];
    s.b1[i] = s.b1[0];
    s.b2[i] = s.b2[0];
    s.g0[i] = s.g0[0];
    s.g1[i] = s.g1[0];
    s.g2[i] = s.g2[0];
    s.tri[i] = s.tri[0];
  }
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 8) {
    alignas(32) int32_t index[3][8];
    for (int j = 0; j < 8; ++j) {
      const int32_t* tri = triangles + 3 * static_cast<int64_t>(s.tri[i + j]);
      index[0][j] = tri[0];
      index[1][j] = tri[1];
      index[2][j] = tri[2];
    }
    __m256 vx[3], vy[3], vw[3];
    for (int k = 0; k < 3; ++k) LoadHomLanes(clip_vertices, index[k], &vx[k], &vy[k], &vw[k]);
    const __m256 px = _mm256_loadu_ps(s.px.data() + i), py = _mm256_loadu_ps(s.py.data() + i);
    // BarycentricsGrad, lane by lane: e1 = v1 - v0, e2 = v2 - v0, sum = p . (e1 x e2) with p.w = 1.
    const __m256 e1x = _mm256_sub_ps(vx[1], vx[0]), e1y = _mm256_sub_ps(vy[1], vy[0]);
    const __m256 e1w = _mm256_sub_ps(vw[1], vw[0]);
    const __m256 e2x = _mm256_sub_ps(vx[2], vx[0]), e2y = _mm256_sub_ps(vy[2], vy[0]);
    const __m256 e2w = _mm256_sub_ps(vw[2], vw[0]);
    const __m256 cx = _mm256_sub_ps(_mm256_mul_ps(e1y, e2w), _mm256_mul_ps(e1w, e2y));
    const __m256 cy = _mm256_sub_ps(_mm256_mul_ps(e1w, e2x), _mm256_mul_ps(e1x, e2w));
    const __m256 cw = _mm256_sub_ps(_mm256_mul_ps(e1x, e2y), _mm256_mul_ps(e1y, e2x));
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(px, cx), _mm256_mul_ps(py, cy)),
                                     _mm256_mul_ps(one, cw));
    const __m256 good = _mm256_and_ps(_mm256_cmp_ps(sum, zero, _CMP_NEQ_UQ), IsFiniteMask(sum));
    const __m256 inv = _mm256_div_ps(one, sum);
    const __m256 g0 = _mm256_loadu_ps(s.g0.data() + i), g1 = _mm256_loadu_ps(s.g1.data() + i);
    const __m256 g2 = _mm256_loadu_ps(s.g2.data() + i);
    const __m256 gb = _mm256_add_ps(
        _mm256_add_ps(_mm256_mul_ps(g0, _mm256_loadu_ps(s.b0.data() + i)),
                      _mm256_mul_ps(g1, _mm256_loadu_ps(s.b1.data() + i))),
        _mm256_mul_ps(g2, _mm256_loadu_ps(s.b2.data() + i)));
    const __m256 gu[3] = {_mm256_mul_ps(_mm256_sub_ps(g0, gb), inv),
                          _mm256_mul_ps(_mm256_sub_ps(g1, gb), inv),
                          _mm256_mul_ps(_mm256_sub_ps(g2, gb), inv)};
    // grad v_k = (gu_{k-1} v_{k+1} - gu_{k+1} v_{k-1}) x p.
    // Per vertex k and lane j, the record (dx, dy, +0, dw) added to the vertex's 16 bytes at once
    // (adding +0 leaves z as it is, unless it is -0).
    alignas(32) float out[3][8][4];
    for (int k = 0; k < 3; ++k) {
      const int prev = (k + 2) % 3, next = (k + 1) % 3;
      const __m256 ax = _mm256_sub_ps(_mm256_mul_ps(gu[prev], vx[next]), _mm256_mul_ps(gu[next], vx[prev]));
      const __m256 ay = _mm256_sub_ps(_mm256_mul_ps(gu[prev], vy[next]), _mm256_mul_ps(gu[next], vy[prev]));
      const __m256 aw = _mm256_sub_ps(_mm256_mul_ps(gu[prev], vw[next]), _mm256_mul_ps(gu[next], vw[prev]));
      // Cross(a, p) with p = (px, py, 1); zero where the pixel's setup is degenerate.
      const __m256 dx = _mm256_and_ps(good, _mm256_sub_ps(_mm256_mul_ps(ay, one), _mm256_mul_ps(aw, py)));
      const __m256 dy = _mm256_and_ps(good, _mm256_sub_ps(_mm256_mul_ps(aw, px), _mm256_mul_ps(ax, one)));
      const __m256 dw = _mm256_and_ps(good, _mm256_sub_ps(_mm256_mul_ps(ax, py), _mm256_mul_ps(ay, px)));
      const __m256 u0 = _mm256_unpacklo_ps(dx, dy), u1 = _mm256_unpackhi_ps(dx, dy);
      const __m256 u2 = _mm256_unpacklo_ps(zero, dw), u3 = _mm256_unpackhi_ps(zero, dw);
      const __m256 r04 = _mm256_shuffle_ps(u0, u2, 0x44), r15 = _mm256_shuffle_ps(u0, u2, 0xEE);
      const __m256 r26 = _mm256_shuffle_ps(u1, u3, 0x44), r37 = _mm256_shuffle_ps(u1, u3, 0xEE);
      _mm256_store_ps(out[k][0], _mm256_permute2f128_ps(r04, r15, 0x20));  // records 0, 1
      _mm256_store_ps(out[k][2], _mm256_permute2f128_ps(r26, r37, 0x20));  // records 2, 3
      _mm256_store_ps(out[k][4], _mm256_permute2f128_ps(r04, r15, 0x31));  // records 4, 5
      _mm256_store_ps(out[k][6], _mm256_permute2f128_ps(r26, r37, 0x31));  // records 6, 7
    }
    // In pixel order, vertices 0, 1, 2 of each: the baseline's order of additions.
    const int lanes = static_cast<int>(std::min<size_t>(8, n - i));
    for (int j = 0; j < lanes; ++j) {
      for (int k = 0; k < 3; ++k) {
        float* o = grad_vertices + 4 * static_cast<int64_t>(index[k][j]);
        _mm_storeu_ps(o, _mm_add_ps(_mm_loadu_ps(o), _mm_load_ps(out[k][j])));
      }
    }
  }
}

}  // namespace

C3DMM_AVX2 void RasterizeGradBandAvx2(const float* clip_vertices, const int32_t* triangles,
                                      const int32_t* triangle_ids, const float* barycentrics,
                                      const float* grad_barycentrics, int32_t height, int32_t width,
                                      int32_t row_begin, int32_t row_end, float* grad_vertices) {
  if (row_end <= row_begin) return;
  Scratch& s = LocalScratch();
  // Blocks of rows (about kGradBlockPixels pixels, so that the lists stay small): compact the pixels
  // that contribute (covered, non-zero incoming gradient) in pixel order, then accumulate them.
  const int32_t block_rows = std::max<int32_t>(1, kGradBlockPixels / width);
  const size_t capacity = static_cast<size_t>(std::min(block_rows, row_end - row_begin)) * width + 8;
  for (auto* v : {&s.px, &s.py, &s.b0, &s.b1, &s.b2, &s.g0, &s.g1, &s.g2}) v->resize(capacity);
  s.tri.resize(capacity);
  const float inv_width = 1.0f / width, inv_height = 1.0f / height;
  const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  for (int32_t block = row_begin; block < row_end; block += block_rows) {
    size_t n = 0;
    for (int32_t iy = block; iy < std::min(row_end, block + block_rows); ++iy) {
      const float ndc_y = PixelNdcY(iy, inv_height);
      const int64_t row = static_cast<int64_t>(iy) * width;
      const __m256 py = _mm256_set1_ps(ndc_y);
      int32_t ix = 0;
      for (; ix + 8 <= width; ix += 8) {  // 8 pixels per step, compacted with a permutation
        const int64_t p = row + ix;
        const __m256i id = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(triangle_ids + p));
        const __m256i hit = _mm256_cmpgt_epi32(id, _mm256_set1_epi32(-1));
        if (_mm256_testz_si256(hit, hit)) continue;
        __m256 g0, g1, g2, b0, b1, b2;
        LoadTriples(grad_barycentrics + 3 * p, &g0, &g1, &g2);
        // Pixels whose incoming gradient is exactly zero contribute nothing (NaN does contribute).
        const __m256 zero = _mm256_setzero_ps();
        const __m256 nonzero = _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(g0, zero, _CMP_NEQ_UQ),
                                                         _mm256_cmp_ps(g1, zero, _CMP_NEQ_UQ)),
                                            _mm256_cmp_ps(g2, zero, _CMP_NEQ_UQ));
        const int keep = _mm256_movemask_ps(_mm256_and_ps(nonzero, _mm256_castsi256_ps(hit)));
        if (keep == 0) continue;
        LoadTriples(barycentrics + 3 * p, &b0, &b1, &b2);
        const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompact.index[keep]));
        // PixelNdcX: (2 * ix + 1) * inv_width - 1.
        const __m256 px = _mm256_sub_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32(2 * ix + 1), lane2)),
                          _mm256_set1_ps(inv_width)),
            _mm256_set1_ps(1.0f));
        _mm256_storeu_ps(s.px.data() + n, _mm256_permutevar8x32_ps(px, perm));
        _mm256_storeu_ps(s.py.data() + n, py);
        _mm256_storeu_ps(s.b0.data() + n, _mm256_permutevar8x32_ps(b0, perm));
        _mm256_storeu_ps(s.b1.data() + n, _mm256_permutevar8x32_ps(b1, perm));
        _mm256_storeu_ps(s.b2.data() + n, _mm256_permutevar8x32_ps(b2, perm));
        _mm256_storeu_ps(s.g0.data() + n, _mm256_permutevar8x32_ps(g0, perm));
        _mm256_storeu_ps(s.g1.data() + n, _mm256_permutevar8x32_ps(g1, perm));
        _mm256_storeu_ps(s.g2.data() + n, _mm256_permutevar8x32_ps(g2, perm));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.tri.data() + n),
                            _mm256_permutevar8x32_epi32(id, perm));
        n += __builtin_popcount(keep);
      }
      for (; ix < width; ++ix) {
        const int64_t p = row + ix;
        const int32_t t = triangle_ids[p];
        if (t < 0) continue;
        const float* g = grad_barycentrics + 3 * p;
        if (g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f) continue;
        const float* b = barycentrics + 3 * p;
        s.px[n] = PixelNdcX(ix, inv_width);
        s.py[n] = ndc_y;
        s.b0[n] = b[0];
        s.b1[n] = b[1];
        s.b2[n] = b[2];
        s.g0[n] = g[0];
        s.g1[n] = g[1];
        s.g2[n] = g[2];
        s.tri[n] = t;
        ++n;
      }
    }
    AccumulateCompacted(clip_vertices, triangles, n, s, grad_vertices);
  }
  TrimScratch(&s);
}

}  // namespace c3dmm

#else  // not x86: the AVX2 path is never selected; these keep the link complete.

namespace c3dmm {

void RasterizeBandAvx2(const float* clip_vertices, int32_t num_vertices, const int32_t* triangles,
                       int32_t num_triangles, int32_t height, int32_t width, int32_t row_begin,
                       int32_t row_end, int32_t* triangle_ids, float* barycentrics, float* depth) {
  RasterizeBandBaseline(clip_vertices, num_vertices, triangles, num_triangles, height, width, row_begin,
                        row_end, triangle_ids, barycentrics, depth);
}

void RasterizeGradBandAvx2(const float* clip_vertices, const int32_t* triangles,
                           const int32_t* triangle_ids, const float* barycentrics,
                           const float* grad_barycentrics, int32_t height, int32_t width,
                           int32_t row_begin, int32_t row_end, float* grad_vertices) {
  RasterizeGradBandBaseline(clip_vertices, triangles, triangle_ids, barycentrics, grad_barycentrics,
                            height, width, row_begin, row_end, grad_vertices);
}

}  // namespace c3dmm

#endif
