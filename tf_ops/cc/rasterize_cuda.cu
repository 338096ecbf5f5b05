// CUDA kernels of the rasterizer (framework-free). One thread per (image, triangle) rasterizes into a
// 64-bit (depth, triangle id) z-buffer with atomicMin, so that the result does not depend on thread
// order; one thread per pixel then resolves ids, depth and barycentrics. Gradients accumulate per
// vertex with atomicAdd.
#include <cuda_runtime.h>

#include "tf_ops/cc/raster_common.h"
#include "tf_ops/cc/rasterize_cuda.h"

namespace c3dmm {
namespace {

constexpr int kThreads = 256;

int Blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

__global__ void ProjectKernel(const float* __restrict__ clip, int64_t count, int width, int height,
                              ScreenVertex* __restrict__ screen) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) screen[i] = ProjectVertex(clip + 4 * i, width, height);
}

__global__ void RasterKernel(const ScreenVertex* __restrict__ screen, int num_vertices,
                             const int32_t* __restrict__ triangles, int num_triangles, int batch,
                             int width, int height, unsigned long long* __restrict__ zbuffer) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<int64_t>(batch) * num_triangles) return;
  const int b = static_cast<int>(i / num_triangles);
  const int t = static_cast<int>(i % num_triangles);
  const int i0 = triangles[3 * t], i1 = triangles[3 * t + 1], i2 = triangles[3 * t + 2];
  if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= num_vertices || i1 >= num_vertices || i2 >= num_vertices) {
    return;
  }
  const ScreenVertex* s = screen + static_cast<int64_t>(b) * num_vertices;
  TriangleSetup setup;
  if (!SetupTriangle(s[i0], s[i1], s[i2], width, height, &setup)) return;
  unsigned long long* z = zbuffer + static_cast<int64_t>(b) * width * height;
  for (int iy = setup.y0; iy <= setup.y1; ++iy) {
    for (int ix = setup.x0; ix <= setup.x1; ++ix) {
      const float px = static_cast<float>(ix), py = static_cast<float>(iy);
      float l0, l1, depth;
      EdgeWeights(setup, px, py, &l0, &l1);
      if (!FragmentDepth(setup, px, py, l0, l1, &depth)) continue;
      const unsigned long long key = DepthKey(depth, t);
      unsigned long long* cell = z + static_cast<int64_t>(iy) * width + ix;
      if (key < *cell) atomicMin(cell, key);  // The plain read skips most losing atomics.
    }
  }
}

__global__ void ResolveKernel(const ScreenVertex* __restrict__ screen, int num_vertices,
                              const int32_t* __restrict__ triangles, int batch, int width,
                              int height, const unsigned long long* __restrict__ zbuffer,
                              int32_t* __restrict__ ids, float* __restrict__ bary,
                              float* __restrict__ depth) {
  const int64_t pixels = static_cast<int64_t>(width) * height;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= batch * pixels) return;
  const unsigned long long key = zbuffer[i];
  if (key == kEmptyKey) {
    ids[i] = -1;
    depth[i] = 1.0f;
    bary[3 * i] = bary[3 * i + 1] = bary[3 * i + 2] = 0.0f;
    return;
  }
  const int b = static_cast<int>(i / pixels);
  const int p = static_cast<int>(i % pixels);
  const int t = static_cast<int>(key & 0xffffffffu);
  const ScreenVertex* s = screen + static_cast<int64_t>(b) * num_vertices;
  const int32_t* tri = triangles + 3 * static_cast<int64_t>(t);
  ids[i] = t;
  depth[i] = KeyDepth(key);
  // Redo the winning triangle's setup: the same arithmetic as the raster pass (and the CPU kernel),
  // so the edge weights are bit-identical to those that won the depth test.
  TriangleSetup setup;
  SetupTriangle(s[tri[0]], s[tri[1]], s[tri[2]], width, height, &setup);
  float l0, l1, out[3];
  EdgeWeights(setup, static_cast<float>(p % width), static_cast<float>(p / width), &l0, &l1);
  PerspectiveBarycentrics(l0, l1, s[tri[0]].inv_w, s[tri[1]].inv_w, s[tri[2]].inv_w, out);
  bary[3 * i] = out[0];
  bary[3 * i + 1] = out[1];
  bary[3 * i + 2] = out[2];
}

// Returns the triangle's vertex indices, or false for background / invalid ids or indices.
__device__ __forceinline__ bool LoadTriangle(const int32_t* triangles, int num_triangles,
                                             int num_vertices, int id, int* idx) {
  if (id < 0 || id >= num_triangles) return false;
  for (int k = 0; k < 3; ++k) {
    idx[k] = triangles[3 * id + k];
    if (idx[k] < 0 || idx[k] >= num_vertices) return false;
  }
  return true;
}

__global__ void RasterGradKernel(const float* __restrict__ clip, int num_vertices,
                                 const int32_t* __restrict__ triangles, int num_triangles,
                                 const int32_t* __restrict__ ids, const float* __restrict__ bary,
                                 const float* __restrict__ grad_bary, int batch, int width,
                                 int height, float* __restrict__ grad) {
  const int64_t pixels = static_cast<int64_t>(width) * height;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= batch * pixels) return;
  int idx[3];
  if (!LoadTriangle(triangles, num_triangles, num_vertices, ids[i], idx)) return;
  const float* g = grad_bary + 3 * i;
  if (g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f) return;
  const int b = static_cast<int>(i / pixels);
  const int p = static_cast<int>(i % pixels);
  const float* v = clip + static_cast<int64_t>(b) * num_vertices * 4;
  const Hom hv[3] = {LoadHom(v, idx[0]), LoadHom(v, idx[1]), LoadHom(v, idx[2])};
  const Hom pixel{PixelNdcX(p % width, 1.0f / width), PixelNdcY(p / width, 1.0f / height), 1.0f};
  Hom dv[3];
  BarycentricsGrad(hv, pixel, bary + 3 * i, g, dv);
  float* out = grad + static_cast<int64_t>(b) * num_vertices * 4;
  for (int k = 0; k < 3; ++k) {
    atomicAdd(out + 4 * idx[k], dv[k].x);
    atomicAdd(out + 4 * idx[k] + 1, dv[k].y);
    atomicAdd(out + 4 * idx[k] + 3, dv[k].w);
  }
}

__global__ void InterpolateKernel(const float* __restrict__ attributes, int num_vertices,
                                  int channels, const int32_t* __restrict__ triangles,
                                  int num_triangles, const int32_t* __restrict__ ids,
                                  const float* __restrict__ bary, int64_t pixels, int batch,
                                  float* __restrict__ out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= batch * pixels * channels) return;
  const int64_t pixel = i / channels;
  const int c = static_cast<int>(i % channels);
  int idx[3];
  if (!LoadTriangle(triangles, num_triangles, num_vertices, ids[pixel], idx)) {
    out[i] = 0.0f;
    return;
  }
  const float* a = attributes + (pixel / pixels) * num_vertices * channels;
  const float* w = bary + 3 * pixel;
  out[i] = w[0] * a[static_cast<int64_t>(idx[0]) * channels + c] +
           w[1] * a[static_cast<int64_t>(idx[1]) * channels + c] +
           w[2] * a[static_cast<int64_t>(idx[2]) * channels + c];
}

__global__ void InterpolateGradKernel(const float* __restrict__ attributes, int num_vertices,
                                      int channels, const int32_t* __restrict__ triangles,
                                      int num_triangles, const int32_t* __restrict__ ids,
                                      const float* __restrict__ bary,
                                      const float* __restrict__ grad_out, int64_t pixels, int batch,
                                      float* __restrict__ grad_attributes,
                                      float* __restrict__ grad_bary) {
  const int64_t pixel = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (pixel >= batch * pixels) return;
  int idx[3];
  if (!LoadTriangle(triangles, num_triangles, num_vertices, ids[pixel], idx)) {
    grad_bary[3 * pixel] = grad_bary[3 * pixel + 1] = grad_bary[3 * pixel + 2] = 0.0f;
    return;
  }
  const int64_t base = (pixel / pixels) * num_vertices * channels;
  const float* g = grad_out + pixel * channels;
  const float* w = bary + 3 * pixel;
  for (int k = 0; k < 3; ++k) {
    const float* a = attributes + base + static_cast<int64_t>(idx[k]) * channels;
    float* ga = grad_attributes + base + static_cast<int64_t>(idx[k]) * channels;
    float acc = 0.0f;
    for (int c = 0; c < channels; ++c) {
      acc += g[c] * a[c];
      atomicAdd(ga + c, w[k] * g[c]);
    }
    grad_bary[3 * pixel + k] = acc;
  }
}

int64_t AlignUp(int64_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace
}  // namespace c3dmm

using namespace c3dmm;  // NOLINT: the launchers below are the C interface of this namespace.

extern "C" {

const char* c3dmm_cuda_error_string(int code) {
  return cudaGetErrorString(static_cast<cudaError_t>(code));
}

int64_t c3dmm_rasterize_scratch_bytes(int32_t batch, int32_t num_vertices, int32_t height,
                                      int32_t width) {
  return AlignUp(sizeof(unsigned long long) * int64_t{batch} * height * width) +
         AlignUp(sizeof(ScreenVertex) * int64_t{batch} * num_vertices);
}

int c3dmm_rasterize_cuda(c3dmm_stream_t stream, const float* clip_vertices, int32_t batch,
                         int32_t num_vertices, const int32_t* triangles, int32_t num_triangles,
                         int32_t height, int32_t width, void* scratch, int32_t* triangle_ids,
                         float* barycentrics, float* depth) {
  const int64_t pixels = int64_t{batch} * height * width;
  if (pixels == 0) return cudaSuccess;
  auto* zbuffer = static_cast<unsigned long long*>(scratch);
  auto* screen = reinterpret_cast<ScreenVertex*>(static_cast<char*>(scratch) +
                                                 AlignUp(sizeof(unsigned long long) * pixels));
  cudaMemsetAsync(zbuffer, 0xff, sizeof(unsigned long long) * pixels, stream);  // = kEmptyKey
  const int64_t vertices = int64_t{batch} * num_vertices;
  if (vertices > 0) {
    ProjectKernel<<<Blocks(vertices), kThreads, 0, stream>>>(clip_vertices, vertices, width, height,
                                                             screen);
  }
  const int64_t tris = int64_t{batch} * num_triangles;
  if (tris > 0) {
    RasterKernel<<<Blocks(tris), kThreads, 0, stream>>>(screen, num_vertices, triangles,
                                                        num_triangles, batch, width, height,
                                                        zbuffer);
  }
  ResolveKernel<<<Blocks(pixels), kThreads, 0, stream>>>(screen, num_vertices, triangles,
                                                         batch, width, height, zbuffer,
                                                         triangle_ids, barycentrics, depth);
  return cudaGetLastError();
}

int c3dmm_rasterize_grad_cuda(c3dmm_stream_t stream, const float* clip_vertices, int32_t batch,
                              int32_t num_vertices, const int32_t* triangles, int32_t num_triangles,
                              const int32_t* triangle_ids, const float* barycentrics,
                              const float* grad_barycentrics, int32_t height, int32_t width,
                              float* grad_clip_vertices) {
  cudaMemsetAsync(grad_clip_vertices, 0, sizeof(float) * 4 * int64_t{batch} * num_vertices, stream);
  const int64_t pixels = int64_t{batch} * height * width;
  if (pixels > 0) {
    RasterGradKernel<<<Blocks(pixels), kThreads, 0, stream>>>(
        clip_vertices, num_vertices, triangles, num_triangles, triangle_ids, barycentrics,
        grad_barycentrics, batch, width, height, grad_clip_vertices);
  }
  return cudaGetLastError();
}

int c3dmm_interpolate_cuda(c3dmm_stream_t stream, const float* attributes, int32_t batch,
                           int32_t num_vertices, int32_t channels, const int32_t* triangles,
                           int32_t num_triangles, const int32_t* triangle_ids,
                           const float* barycentrics, int64_t pixels, float* out) {
  const int64_t n = int64_t{batch} * pixels * channels;
  if (n > 0) {
    InterpolateKernel<<<Blocks(n), kThreads, 0, stream>>>(attributes, num_vertices, channels,
                                                          triangles, num_triangles, triangle_ids,
                                                          barycentrics, pixels, batch, out);
  }
  return cudaGetLastError();
}

int c3dmm_interpolate_grad_cuda(c3dmm_stream_t stream, const float* attributes, int32_t batch,
                                int32_t num_vertices, int32_t channels, const int32_t* triangles,
                                int32_t num_triangles, const int32_t* triangle_ids,
                                const float* barycentrics, const float* grad_out, int64_t pixels,
                                float* grad_attributes, float* grad_barycentrics) {
  cudaMemsetAsync(grad_attributes, 0, sizeof(float) * int64_t{batch} * num_vertices * channels,
                  stream);
  const int64_t n = int64_t{batch} * pixels;
  if (n > 0) {
    InterpolateGradKernel<<<Blocks(n), kThreads, 0, stream>>>(
        attributes, num_vertices, channels, triangles, num_triangles, triangle_ids, barycentrics,
        grad_out, pixels, batch, grad_attributes, grad_barycentrics);
  }
  return cudaGetLastError();
}

}  // extern "C"
