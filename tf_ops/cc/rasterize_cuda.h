// C interface of the CUDA kernels: raw device pointers and a stream, no TensorFlow, no CUDA headers.
// Each launcher enqueues its kernels on `stream` and returns the CUDA error code of the launch
// (0 = success). Semantics match the CPU kernels (rasterize_cpu.h), except that out-of-range triangle
// indices or ids make a triangle cover nothing instead of raising (the TF op validates on the CPU only,
// because checking on the GPU would force a device-to-host synchronisation).
#ifndef C3DMM_TF_OPS_RASTERIZE_CUDA_H_
#define C3DMM_TF_OPS_RASTERIZE_CUDA_H_

#include <cstdint>

extern "C" {

typedef struct CUstream_st* c3dmm_stream_t;

// CUDA's description of an error code returned by a launcher (cudaGetErrorString).
const char* c3dmm_cuda_error_string(int code);

// Bytes of scratch memory that c3dmm_rasterize_cuda needs (z-buffer + projected vertices).
int64_t c3dmm_rasterize_scratch_bytes(int32_t batch, int32_t num_vertices, int32_t height,
                                      int32_t width);

// clip_vertices [B, V, 4], triangles [T, 3] -> triangle_ids [B, H, W], barycentrics [B, H, W, 3],
// depth [B, H, W]. Every output element is written.
int c3dmm_rasterize_cuda(c3dmm_stream_t stream, const float* clip_vertices, int32_t batch,
                         int32_t num_vertices, const int32_t* triangles, int32_t num_triangles,
                         int32_t height, int32_t width, void* scratch, int32_t* triangle_ids,
                         float* barycentrics, float* depth);

// d(loss)/d(clip_vertices) [B, V, 4] from the forward outputs and d(loss)/d(barycentrics). Per-vertex
// sums use float atomicAdd (summation order, hence the last bits, may vary between runs).
int c3dmm_rasterize_grad_cuda(c3dmm_stream_t stream, const float* clip_vertices, int32_t batch,
                              int32_t num_vertices, const int32_t* triangles, int32_t num_triangles,
                              const int32_t* triangle_ids, const float* barycentrics,
                              const float* grad_barycentrics, int32_t height, int32_t width,
                              float* grad_clip_vertices);

// attributes [B, V, C] -> out [B, P, C] for P = H * W pixels.
int c3dmm_interpolate_cuda(c3dmm_stream_t stream, const float* attributes, int32_t batch,
                           int32_t num_vertices, int32_t channels, const int32_t* triangles,
                           int32_t num_triangles, const int32_t* triangle_ids,
                           const float* barycentrics, int64_t pixels, float* out);

// Gradient of c3dmm_interpolate_cuda: grad_attributes [B, V, C] (atomics), grad_barycentrics [B, P, 3].
int c3dmm_interpolate_grad_cuda(c3dmm_stream_t stream, const float* attributes, int32_t batch,
                                int32_t num_vertices, int32_t channels, const int32_t* triangles,
                                int32_t num_triangles, const int32_t* triangle_ids,
                                const float* barycentrics, const float* grad_out, int64_t pixels,
                                float* grad_attributes, float* grad_barycentrics);

}  // extern "C"

#endif  // C3DMM_TF_OPS_RASTERIZE_CUDA_H_
