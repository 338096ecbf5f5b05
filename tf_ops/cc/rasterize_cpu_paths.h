// The CPU rasterizer's code paths, behind the dispatching entry points of rasterize_cpu.h.
//
// Two implementations of the raster and gradient kernels exist: the portable baseline (any x86-64 or
// other CPU) and an AVX2 one (8 triangles per setup step, 8 pixels per coverage test, 8 pixels per
// gradient step), compiled with a per-function target attribute so that the library itself needs
// no -mavx2. The AVX2 path performs the same IEEE float operations in the same order (no FMA, no
// reciprocal estimates) and accumulates gradients in the same order, so both paths give bit-identical
// outputs; tests/tf_ops/test_cpu_paths.py and the sanitizer harness check that.
//
// The path is chosen once per process: AVX2 when the CPU (and OS) supports it, unless the
// environment variable C3DMM_CPU_PATH is "baseline" when the kernels first run.
#ifndef C3DMM_TF_OPS_RASTERIZE_CPU_PATHS_H_
#define C3DMM_TF_OPS_RASTERIZE_CPU_PATHS_H_

#include <cstdint>

namespace c3dmm {

enum class CpuPath { kBaseline, kAvx2 };

// True when this CPU and OS can run the AVX2 path.
bool CpuSupportsAvx2();

// The path used by the entry points of rasterize_cpu.h (decided on first call, then fixed).
CpuPath ActiveCpuPath();

// The implementations, callable directly (tests, harness). Same contracts as rasterize_cpu.h; the
// Avx2 ones must only be called when CpuSupportsAvx2().
void RasterizeBandBaseline(const float* clip_vertices, int32_t num_vertices, const int32_t* triangles,
                           int32_t num_triangles, int32_t height, int32_t width, int32_t row_begin,
                           int32_t row_end, int32_t* triangle_ids, float* barycentrics, float* depth);
void RasterizeBandAvx2(const float* clip_vertices, int32_t num_vertices, const int32_t* triangles,
                       int32_t num_triangles, int32_t height, int32_t width, int32_t row_begin,
                       int32_t row_end, int32_t* triangle_ids, float* barycentrics, float* depth);
void RasterizeGradBandBaseline(const float* clip_vertices, const int32_t* triangles,
                               const int32_t* triangle_ids, const float* barycentrics,
                               const float* grad_barycentrics, int32_t height, int32_t width,
                               int32_t row_begin, int32_t row_end, float* grad_vertices);
void RasterizeGradBandAvx2(const float* clip_vertices, const int32_t* triangles,
                           const int32_t* triangle_ids, const float* barycentrics,
                           const float* grad_barycentrics, int32_t height, int32_t width,
                           int32_t row_begin, int32_t row_end, float* grad_vertices);

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_RASTERIZE_CPU_PATHS_H_
