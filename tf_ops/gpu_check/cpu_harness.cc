// extern "C" entry points to the CPU kernels for the TF-free GPU check (ctypes). Whole images,
// one thread: the reference the CUDA kernels are compared against.
#include <cstdint>
#include <cstring>

#include "tf_ops/cc/rasterize_cpu.h"

extern "C" {

void cpu_rasterize(const float* clip, int32_t batch, int32_t num_vertices, const int32_t* triangles,
                   int32_t num_triangles, int32_t height, int32_t width, int32_t* ids, float* bary,
                   float* depth) {
  const int64_t pixels = int64_t{height} * width;
  for (int32_t b = 0; b < batch; ++b) {
    c3dmm::RasterizeBandCpu(clip + int64_t{b} * num_vertices * 4, num_vertices, triangles,
                            num_triangles, height, width, 0, height, ids + b * pixels,
                            bary + b * pixels * 3, depth + b * pixels);
  }
}

void cpu_rasterize_grad(const float* clip, int32_t batch, int32_t num_vertices,
                        const int32_t* triangles, const int32_t* ids, const float* bary,
                        const float* grad_bary, int32_t height, int32_t width, float* grad) {
  const int64_t pixels = int64_t{height} * width;
  std::memset(grad, 0, sizeof(float) * 4 * int64_t{batch} * num_vertices);
  for (int32_t b = 0; b < batch; ++b) {
    c3dmm::RasterizeGradBandCpu(clip + int64_t{b} * num_vertices * 4, triangles, ids + b * pixels,
                                bary + b * pixels * 3, grad_bary + b * pixels * 3, height, width, 0,
                                height, grad + int64_t{b} * num_vertices * 4);
  }
}

void cpu_interpolate(const float* attributes, int32_t batch, int32_t num_vertices, int32_t channels,
                     const int32_t* triangles, const int32_t* ids, const float* bary,
                     int64_t pixels, float* out) {
  for (int32_t b = 0; b < batch; ++b) {
    c3dmm::InterpolateCpu(attributes + int64_t{b} * num_vertices * channels, channels, triangles,
                          ids + b * pixels, bary + b * pixels * 3, 0, pixels,
                          out + b * pixels * channels);
  }
}

}  // extern "C"
