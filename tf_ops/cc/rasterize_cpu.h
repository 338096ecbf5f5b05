// Framework-free CPU kernels of the rasterizer. The caller (the TF op) validates inputs and splits the
// work into (image, row band) units, so each call here is single-threaded and touches only its band.
// The raster and gradient kernels dispatch at run time to an AVX2 implementation where the CPU has it,
// with bit-identical results (rasterize_cpu_paths.h; C3DMM_CPU_PATH=baseline forces the portable one).
#ifndef C3DMM_TF_OPS_RASTERIZE_CPU_H_
#define C3DMM_TF_OPS_RASTERIZE_CPU_H_

#include <cstdint>

namespace c3dmm {

// Rasterizes rows [row_begin, row_end) of one image.
//   clip_vertices: [num_vertices, 4]; triangles: [num_triangles, 3], indices already validated.
//   triangle_ids: [height, width]; barycentrics: [height, width, 3]; depth: [height, width] (full
//   image buffers of this image; only the band's rows are written, every element of them).
void RasterizeBandCpu(const float* clip_vertices, int32_t num_vertices, const int32_t* triangles,
                      int32_t num_triangles, int32_t height, int32_t width, int32_t row_begin,
                      int32_t row_end, int32_t* triangle_ids, float* barycentrics, float* depth);

// Accumulates d(loss)/d(clip_vertices) of rows [row_begin, row_end) of one image into grad_vertices
// ([num_vertices, 4]; vertices no pixel references are untouched, z components only get +0 added),
// given the forward pass' ids and barycentrics and d(loss)/d(barycentrics).
void RasterizeGradBandCpu(const float* clip_vertices, const int32_t* triangles,
                          const int32_t* triangle_ids, const float* barycentrics,
                          const float* grad_barycentrics,
                          int32_t height, int32_t width, int32_t row_begin, int32_t row_end,
                          float* grad_vertices);

// Interpolation of per-vertex attributes ([num_vertices, channels]) over pixels [pixel_begin,
// pixel_end) of one image; out: [height * width, channels].
void InterpolateCpu(const float* attributes, int32_t channels, const int32_t* triangles,
                    const int32_t* triangle_ids, const float* barycentrics, int64_t pixel_begin,
                    int64_t pixel_end, float* out);

// Gradient of InterpolateCpu: writes grad_barycentrics for pixels [pixel_begin, pixel_end) and
// accumulates grad_attributes ([num_vertices, channels]).
void InterpolateGradCpu(const float* attributes, int32_t channels, const int32_t* triangles,
                        const int32_t* triangle_ids, const float* barycentrics,
                        const float* grad_out, int64_t pixel_begin, int64_t pixel_end,
                        float* grad_attributes, float* grad_barycentrics);

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_RASTERIZE_CPU_H_
