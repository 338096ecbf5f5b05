#include "tf_ops/cc/rasterize_cpu.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tf_ops/cc/raster_common.h"
#include "tf_ops/cc/rasterize_cpu_paths.h"

namespace c3dmm {

namespace {

// Everything the raster pass keeps per pixel, in one 16-byte record: each fragment test touches one
// cache line instead of three (separate depth, id and weight planes cost ~1.5x in time).
struct PixelState {
  float depth;
  int32_t id;
  float l0, l1;  // screen-space edge weights of the winning fragment
};

inline float BitsAsFloat(int32_t value) {
  float f;
  std::memcpy(&f, &value, sizeof(f));
  return f;
}

}  // namespace

bool CpuSupportsAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");  // also checks that the OS saves the YMM registers
#else
  return false;
#endif
}

CpuPath ActiveCpuPath() {
  static const CpuPath path = [] {
    const char* forced = std::getenv("C3DMM_CPU_PATH");
    if (forced != nullptr && std::strcmp(forced, "baseline") == 0) return CpuPath::kBaseline;
    return CpuSupportsAvx2() ? CpuPath::kAvx2 : CpuPath::kBaseline;
  }();
  return path;
}

void RasterizeBandCpu(const float* clip_vertices, int32_t num_vertices, const int32_t* triangles,
                      int32_t num_triangles, int32_t height, int32_t width, int32_t row_begin,
                      int32_t row_end, int32_t* triangle_ids, float* barycentrics, float* depth) {
  (ActiveCpuPath() == CpuPath::kAvx2 ? RasterizeBandAvx2 : RasterizeBandBaseline)(
      clip_vertices, num_vertices, triangles, num_triangles, height, width, row_begin, row_end,
      triangle_ids, barycentrics, depth);
}

void RasterizeGradBandCpu(const float* clip_vertices, const int32_t* triangles,
                          const int32_t* triangle_ids, const float* barycentrics,
                          const float* grad_barycentrics,
                          int32_t height, int32_t width, int32_t row_begin, int32_t row_end,
                          float* grad_vertices) {
  (ActiveCpuPath() == CpuPath::kAvx2 ? RasterizeGradBandAvx2 : RasterizeGradBandBaseline)(
      clip_vertices, triangles, triangle_ids, barycentrics, grad_barycentrics, height, width,
      row_begin, row_end, grad_vertices);
}

void RasterizeBandBaseline(const float* clip_vertices, int32_t num_vertices,
                           const int32_t* triangles, int32_t num_triangles, int32_t height,
                           int32_t width, int32_t row_begin, int32_t row_end,
                           int32_t* triangle_ids, float* barycentrics, float* depth) {
  const int32_t band_rows = row_end - row_begin;
  if (band_rows <= 0) return;
  std::vector<ScreenVertex> screen(num_vertices);
  for (int32_t v = 0; v < num_vertices; ++v) {
    screen[v] = ProjectVertex(clip_vertices + 4 * static_cast<int64_t>(v), width, height);
  }
  // Triangles are drawn in increasing id and only a strictly nearer fragment replaces a pixel, so on
  // equal depth the lower id wins: the same order as the CUDA kernel's (depth, id) atomicMin.
  const int64_t band_pixels = static_cast<int64_t>(band_rows) * width;
  // Depth 2 is farther than any accepted fragment (<= 1).
  std::vector<PixelState> state(band_pixels, PixelState{2.0f, -1, 0.0f, 0.0f});
  const int32_t band_last_row = row_end - 1;
  for (int32_t t = 0; t < num_triangles; ++t) {
    const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
    TriangleSetup s;
    if (!SetupTriangle(screen[tri[0]], screen[tri[1]], screen[tri[2]], width, height, &s)) continue;
    const int32_t y0 = std::max(s.y0, row_begin), y1 = std::min(s.y1, band_last_row);
    for (int32_t iy = y0; iy <= y1; ++iy) {
      PixelState* row = state.data() + static_cast<int64_t>(iy - row_begin) * width;
      const float py = static_cast<float>(iy);
      for (int32_t ix = s.x0; ix <= s.x1; ++ix) {
        const float px = static_cast<float>(ix);
        float l0, l1, z;
        EdgeWeights(s, px, py, &l0, &l1);
        PixelState& cell = row[ix];
        const bool win = FragmentDepth(s, px, py, l0, l1, &z) & (z < cell.depth);
#if defined(__SSE2__)
        // Always write, selecting through a mask: whether a fragment wins is data-dependent, and a
        // branch on it mispredicts constantly (SSE2 is part of x86-64: no dispatch needed).
        const __m128 take = _mm_castsi128_ps(_mm_set1_epi32(-static_cast<int32_t>(win)));
        const __m128 fresh = _mm_setr_ps(z, BitsAsFloat(t), l0, l1);
        const __m128 old = _mm_loadu_ps(reinterpret_cast<const float*>(&cell));
        _mm_storeu_ps(reinterpret_cast<float*>(&cell),
                      _mm_or_ps(_mm_and_ps(take, fresh), _mm_andnot_ps(take, old)));
#else
        if (win) cell = PixelState{z, t, l0, l1};
#endif
      }
    }
  }
  // Resolve into the outputs: ids, depth and perspective-correct barycentrics.
  const int64_t offset = static_cast<int64_t>(row_begin) * width;
  for (int64_t q = 0; q < band_pixels; ++q) {
    const PixelState& cell = state[q];
    const int64_t p = offset + q;
    float* bary = barycentrics + 3 * p;
    triangle_ids[p] = cell.id;
    if (cell.id < 0) {
      depth[p] = 1.0f;
      bary[0] = bary[1] = bary[2] = 0.0f;
      continue;
    }
    depth[p] = cell.depth;
    const int32_t* tri = triangles + 3 * static_cast<int64_t>(cell.id);
    PerspectiveBarycentrics(cell.l0, cell.l1, screen[tri[0]].inv_w, screen[tri[1]].inv_w,
                            screen[tri[2]].inv_w, bary);
  }
}

void RasterizeGradBandBaseline(const float* clip_vertices, const int32_t* triangles,
                               const int32_t* triangle_ids, const float* barycentrics,
                               const float* grad_barycentrics, int32_t height, int32_t width,
                               int32_t row_begin, int32_t row_end, float* grad_vertices) {
  const float inv_width = 1.0f / width, inv_height = 1.0f / height;
  for (int32_t iy = row_begin; iy < row_end; ++iy) {
    const float ndc_y = PixelNdcY(iy, inv_height);
    for (int32_t ix = 0; ix < width; ++ix) {
      const int64_t p = static_cast<int64_t>(iy) * width + ix;
      const int32_t t = triangle_ids[p];
      if (t < 0) continue;
      const float* g = grad_barycentrics + 3 * p;
      if (g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f) continue;
      const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
      const Hom v[3] = {LoadHom(clip_vertices, tri[0]), LoadHom(clip_vertices, tri[1]),
                        LoadHom(clip_vertices, tri[2])};
      Hom dv[3];
      BarycentricsGrad(v, Hom{PixelNdcX(ix, inv_width), ndc_y, 1.0f}, barycentrics + 3 * p, g, dv);
      for (int k = 0; k < 3; ++k) {
        float* out = grad_vertices + 4 * static_cast<int64_t>(tri[k]);
        out[0] += dv[k].x;
        out[1] += dv[k].y;
        out[3] += dv[k].w;
      }
    }
  }
}

void InterpolateCpu(const float* attributes, int32_t channels, const int32_t* triangles,
                    const int32_t* triangle_ids, const float* barycentrics, int64_t pixel_begin,
                    int64_t pixel_end, float* out) {
  if (channels == 3) {  // colours, the common case: the same arithmetic without per-pixel loops or memset
    for (int64_t p = pixel_begin; p < pixel_end; ++p) {
      float* o = out + 3 * p;
      const int32_t t = triangle_ids[p];
      if (t < 0) {
        o[0] = o[1] = o[2] = 0.0f;
        continue;
      }
      const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
      const float* b = barycentrics + 3 * p;
      const float* a0 = attributes + 3 * static_cast<int64_t>(tri[0]);
      const float* a1 = attributes + 3 * static_cast<int64_t>(tri[1]);
      const float* a2 = attributes + 3 * static_cast<int64_t>(tri[2]);
      const float b0 = b[0], b1 = b[1], b2 = b[2];
      const float x = b0 * a0[0] + b1 * a1[0] + b2 * a2[0];
      const float y = b0 * a0[1] + b1 * a1[1] + b2 * a2[1];
      const float z = b0 * a0[2] + b1 * a1[2] + b2 * a2[2];
      o[0] = x;
      o[1] = y;
      o[2] = z;
    }
    return;
  }
  for (int64_t p = pixel_begin; p < pixel_end; ++p) {
    float* o = out + p * channels;
    const int32_t t = triangle_ids[p];
    if (t < 0) {
      std::memset(o, 0, sizeof(float) * channels);
      continue;
    }
    const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
    const float* b = barycentrics + 3 * p;
    const float* a0 = attributes + static_cast<int64_t>(tri[0]) * channels;
    const float* a1 = attributes + static_cast<int64_t>(tri[1]) * channels;
    const float* a2 = attributes + static_cast<int64_t>(tri[2]) * channels;
    for (int32_t c = 0; c < channels; ++c) o[c] = b[0] * a0[c] + b[1] * a1[c] + b[2] * a2[c];
  }
}

void InterpolateGradCpu(const float* attributes, int32_t channels, const int32_t* triangles,
                        const int32_t* triangle_ids, const float* barycentrics,
                        const float* grad_out, int64_t pixel_begin, int64_t pixel_end,
                        float* grad_attributes, float* grad_barycentrics) {
  if (channels == 3) {  // the same arithmetic and order as the general loop below, unrolled
    for (int64_t p = pixel_begin; p < pixel_end; ++p) {
      float* gb = grad_barycentrics + 3 * p;
      const int32_t t = triangle_ids[p];
      if (t < 0) {
        gb[0] = gb[1] = gb[2] = 0.0f;
        continue;
      }
      const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
      const float* b = barycentrics + 3 * p;
      const float g0 = grad_out[3 * p], g1 = grad_out[3 * p + 1], g2 = grad_out[3 * p + 2];
      for (int k = 0; k < 3; ++k) {
        const float* a = attributes + 3 * static_cast<int64_t>(tri[k]);
        float* ga = grad_attributes + 3 * static_cast<int64_t>(tri[k]);
        const float bk = b[k];
        float acc = 0.0f;
        acc += g0 * a[0];
        acc += g1 * a[1];
        acc += g2 * a[2];
        ga[0] += bk * g0;
        ga[1] += bk * g1;
        ga[2] += bk * g2;
        gb[k] = acc;
      }
    }
    return;
  }
  for (int64_t p = pixel_begin; p < pixel_end; ++p) {
    float* gb = grad_barycentrics + 3 * p;
    const int32_t t = triangle_ids[p];
    if (t < 0) {
      gb[0] = gb[1] = gb[2] = 0.0f;
      continue;
    }
    const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
    const float* b = barycentrics + 3 * p;
    const float* g = grad_out + p * channels;
    for (int k = 0; k < 3; ++k) {
      const float* a = attributes + static_cast<int64_t>(tri[k]) * channels;
      float* ga = grad_attributes + static_cast<int64_t>(tri[k]) * channels;
      float acc = 0.0f;
      for (int32_t c = 0; c < channels; ++c) {
        acc += g[c] * a[c];
        ga[c] += b[k] * g[c];
      }
      gb[k] = acc;
    }
  }
}

}  // namespace c3dmm
