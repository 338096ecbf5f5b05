// Framework-free CPU kernels of ShadeVertices: the per-vertex half of image formation in one pass over
// the mesh (pose, area-weighted vertex normals, Lambertian 9-coefficient SH shading, clip-space
// projection) and its gradient. The caller (shade_vertices_op.cc) validates the inputs and runs the
// phases over (image, block of kShadingBlock vertices or triangles) units; each call here is
// single-threaded and writes only its range, so results do not depend on the thread count.
//
// Per image, with R [3, 3], t [3], gamma [9, 3], A [3, 4] and c [4] (clip = cam A + c):
//   cam_i = R v_i + t;   f_t = (cam_b - cam_a) x (cam_c - cam_a) for triangle t = (a, b, c);
//   s_i = sum_{t incident to i} f_t;   n_i = s_i / sqrt(max(s_i . s_i, eps));
//   E_i[ch] = sum_k H_k(n_i) gamma[k, ch];   colour_i = albedo_i * E_i;   clip_i = cam_i A + c,
// with H_k the Lambertian SH basis of model/lighting.py (Ramamoorthi-Hanrahan order and constants).
#ifndef C3DMM_TF_OPS_SHADE_VERTICES_CPU_H_
#define C3DMM_TF_OPS_SHADE_VERTICES_CPU_H_

#include <cstdint>
#include <vector>

namespace c3dmm {

// Vertices (or triangles) per work unit. Fixed, so that the per-unit partial sums of the pose and SH
// gradients, summed in unit order, give the same floats at every thread count.
constexpr int64_t kShadingBlock = 1024;
constexpr int kShCoefficients = 9;

// The corners of each vertex, compressed rows: corners[offsets[i] .. offsets[i + 1]) are the corner ids
// 3 t + k (corner k of triangle t) at vertex i, increasing; triangles[j] = corners[j] / 3.
struct VertexCorners {
  std::vector<int64_t> offsets;  // [N + 1]
  std::vector<int32_t> corners;    // [3 T]
  std::vector<int32_t> triangles;  // [3 T]
};

// triangles: [T, 3] with every index in [0, N) (validated by the caller).
void BuildVertexCorners(const int32_t* triangles, int64_t num_triangles, int64_t num_vertices,
                        VertexCorners* incidence);

// One image's inputs. vertices, albedo: [N, 3]; rotation: [3, 3] row-major; translation: [3];
// sh: [9, 3]; clip_transform: [4, 4], rows 0-2 = A, row 3 = c (shared by the batch).
struct ShadeImage {
  const float* vertices;
  const float* albedo;
  const float* rotation;
  const float* translation;
  const float* sh;
  const float* clip_transform;
};

// Phase 1, vertices [begin, end): camera_vertices [N, 3] and clip [N, 4].
void ShadeTransformCpu(const ShadeImage& image, int64_t begin, int64_t end, float* camera_vertices,
                       float* clip);

// Phase 2, triangles [begin, end): face_normals [T, 3] (unnormalised, twice the area).
void FaceNormalsCpu(const float* camera_vertices, const int32_t* triangles, int64_t begin, int64_t end,
                    float* face_normals);

// Phase 3, vertices [begin, end): normals, irradiance, colors [N, 3].
void ShadeNormalsCpu(const ShadeImage& image, const VertexCorners& incidence, const float* face_normals,
                     float eps, int64_t begin, int64_t end, float* normals, float* irradiance,
                     float* colors);

// Upstream gradients of one image (all given; zeros for unused outputs): [N, 3] except clip [N, 4].
struct ShadeUpstream {
  const float* camera_vertices;
  const float* normals;
  const float* irradiance;
  const float* colors;
  const float* clip;
};

// Gradient phase 1, vertices [begin, end): grad_albedo [N, 3] and grad_unnormalised [N, 3] (d/ds_i);
// adds this range's d/dgamma into sh_partial [9 * 3] (double). irradiance: the forward output.
void ShadeGradVerticesCpu(const ShadeImage& image, const VertexCorners& incidence,
                          const float* face_normals, const float* irradiance, const ShadeUpstream& grad,
                          float eps, int64_t begin, int64_t end, float* grad_albedo,
                          float* grad_unnormalised, double* sh_partial);

// Gradient phase 2, triangles [begin, end): corner_grads [T, 3, 3], the gradient of the loss with
// respect to each corner's camera-space position through f_t.
void ShadeGradTrianglesCpu(const float* camera_vertices, const int32_t* triangles,
                           const float* grad_unnormalised, int64_t begin, int64_t end,
                           float* corner_grads);

// Gradient phase 3, vertices [begin, end): grad_vertices [N, 3] = R^T d/dcam_i, with d/dcam_i = upstream
// camera_vertices + A upstream clip + the corner gradients of vertex i; adds this range's d/dR (9,
// row-major) and d/dt (3) into pose_partial [12].
void ShadeGradPoseCpu(const ShadeImage& image, const VertexCorners& incidence, const float* corner_grads,
                      const ShadeUpstream& grad, int64_t begin, int64_t end, float* grad_vertices,
                      double* pose_partial);

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_SHADE_VERTICES_CPU_H_
