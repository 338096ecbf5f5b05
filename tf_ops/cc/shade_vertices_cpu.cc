// Framework-free CPU kernels of ShadeVertices (see shade_vertices_cpu.h for the equations).
#include "tf_ops/cc/shade_vertices_cpu.h"

#include <algorithm>
#include <cmath>

namespace c3dmm {

namespace {

// H_k = A_l Y_k (model/lighting.py): A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4 times the real SH constants.
const double kPi = 3.14159265358979323846;
const float kH0 = static_cast<float>(kPi * 0.5 * std::sqrt(1.0 / kPi));
const float kH1 = static_cast<float>(2.0 * kPi / 3.0 * std::sqrt(3.0 / (4.0 * kPi)));
const float kH2 = static_cast<float>(kPi / 4.0 * 0.5 * std::sqrt(15.0 / kPi));
const float kH20 = static_cast<float>(kPi / 4.0 * 0.25 * std::sqrt(5.0 / kPi));
const float kH22 = static_cast<float>(kPi / 4.0 * 0.25 * std::sqrt(15.0 / kPi));

inline void ShBasis(float x, float y, float z, float h[kShCoefficients]) {
  h[0] = kH0;
  h[1] = kH1 * y;
  h[2] = kH1 * z;
  h[3] = kH1 * x;
  h[4] = kH2 * x * y;
  h[5] = kH2 * y * z;
  h[6] = kH20 * (3.0f * z * z - 1.0f);
  h[7] = kH2 * x * z;
  h[8] = kH22 * (x * x - y * y);
}

// s_i = sum of the face normals of the triangles at vertex i.
inline void SumFaceNormals(const VertexCorners& incidence, const float* face_normals, int64_t i,
                           float s[3]) {
  s[0] = s[1] = s[2] = 0.0f;
  for (int64_t j = incidence.offsets[i]; j < incidence.offsets[i + 1]; ++j) {
    const float* f = face_normals + 3 * static_cast<int64_t>(incidence.triangles[j]);
    s[0] += f[0];
    s[1] += f[1];
    s[2] += f[2];
  }
}

inline void Cross(const float a[3], const float b[3], float out[3]) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

}  // namespace

void BuildVertexCorners(const int32_t* triangles, int64_t num_triangles, int64_t num_vertices,
                        VertexCorners* incidence) {
  incidence->offsets.assign(num_vertices + 1, 0);
  incidence->corners.resize(3 * num_triangles);
  incidence->triangles.resize(3 * num_triangles);
  for (int64_t c = 0; c < 3 * num_triangles; ++c) ++incidence->offsets[triangles[c] + 1];
  for (int64_t i = 0; i < num_vertices; ++i) incidence->offsets[i + 1] += incidence->offsets[i];
  std::vector<int64_t> next(incidence->offsets.begin(), incidence->offsets.end() - 1);
  for (int64_t c = 0; c < 3 * num_triangles; ++c) {
    incidence->corners[next[triangles[c]]++] = static_cast<int32_t>(c);
  }
  for (int64_t j = 0; j < 3 * num_triangles; ++j) incidence->triangles[j] = incidence->corners[j] / 3;
}

void ShadeTransformCpu(const ShadeImage& image, int64_t begin, int64_t end, float* camera_vertices,
                       float* clip) {
  float r[9], t[3], a[16];  // local copies: the outputs cannot alias them
  std::copy(image.rotation, image.rotation + 9, r);
  std::copy(image.translation, image.translation + 3, t);
  std::copy(image.clip_transform, image.clip_transform + 16, a);
  for (int64_t i = begin; i < end; ++i) {
    const float* v = image.vertices + 3 * i;
    float* cam = camera_vertices + 3 * i;
    for (int j = 0; j < 3; ++j) cam[j] = r[3 * j] * v[0] + r[3 * j + 1] * v[1] + r[3 * j + 2] * v[2] + t[j];
    float* out = clip + 4 * i;
    for (int m = 0; m < 4; ++m) out[m] = cam[0] * a[m] + cam[1] * a[4 + m] + cam[2] * a[8 + m] + a[12 + m];
  }
}

void FaceNormalsCpu(const float* camera_vertices, const int32_t* triangles, int64_t begin, int64_t end,
                    float* face_normals) {
  for (int64_t t = begin; t < end; ++t) {
    const float* pa = camera_vertices + 3 * triangles[3 * t];
    const float* pb = camera_vertices + 3 * triangles[3 * t + 1];
    const float* pc = camera_vertices + 3 * triangles[3 * t + 2];
    const float e1[3] = {pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]};
    const float e2[3] = {pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]};
    Cross(e1, e2, face_normals + 3 * t);
  }
}

void ShadeNormalsCpu(const ShadeImage& image, const VertexCorners& incidence, const float* face_normals,
                     float eps, int64_t begin, int64_t end, float* normals, float* irradiance,
                     float* colors) {
  float sh[kShCoefficients * 3];  // a local copy: the outputs cannot alias it
  std::copy(image.sh, image.sh + kShCoefficients * 3, sh);
  for (int64_t i = begin; i < end; ++i) {
    float s[3];
    SumFaceNormals(incidence, face_normals, i, s);
    const float scale = 1.0f / std::sqrt(std::max(s[0] * s[0] + s[1] * s[1] + s[2] * s[2], eps));
    float* n = normals + 3 * i;
    n[0] = s[0] * scale;
    n[1] = s[1] * scale;
    n[2] = s[2] * scale;
    float h[kShCoefficients];
    ShBasis(n[0], n[1], n[2], h);
    for (int c = 0; c < 3; ++c) {
      float e = 0.0f;
      for (int k = 0; k < kShCoefficients; ++k) e += h[k] * sh[3 * k + c];
      irradiance[3 * i + c] = e;
      colors[3 * i + c] = image.albedo[3 * i + c] * e;
    }
  }
}

void ShadeGradVerticesCpu(const ShadeImage& image, const VertexCorners& incidence,
                          const float* face_normals, const float* irradiance, const ShadeUpstream& grad,
                          float eps, int64_t begin, int64_t end, float* grad_albedo,
                          float* grad_unnormalised, float* grad_camera, double* sh_partial) {
  float sh[kShCoefficients * 3], a[16];  // local copies: the outputs cannot alias them
  std::copy(image.sh, image.sh + kShCoefficients * 3, sh);
  std::copy(image.clip_transform, image.clip_transform + 16, a);
  float sh_sum[kShCoefficients * 3] = {};  // this range's sum in float (a block: ~1e-6 relative)
  for (int64_t i = begin; i < end; ++i) {
    // Shading: dE = upstream irradiance + upstream colour * albedo; d albedo = upstream colour * E.
    float de[3];
    for (int c = 0; c < 3; ++c) {
      const float g_color = grad.colors ? grad.colors[3 * i + c] : 0.0f;
      de[c] = (grad.irradiance ? grad.irradiance[3 * i + c] : 0.0f) + g_color * image.albedo[3 * i + c];
      grad_albedo[3 * i + c] = g_color * irradiance[3 * i + c];
    }
    float s[3];
    SumFaceNormals(incidence, face_normals, i, s);
    const float q = s[0] * s[0] + s[1] * s[1] + s[2] * s[2];
    const float scale = 1.0f / std::sqrt(std::max(q, eps));
    const float x = s[0] * scale, y = s[1] * scale, z = s[2] * scale;
    float h[kShCoefficients], w[kShCoefficients];
    ShBasis(x, y, z, h);
    for (int k = 0; k < kShCoefficients; ++k) {
      w[k] = sh[3 * k] * de[0] + sh[3 * k + 1] * de[1] + sh[3 * k + 2] * de[2];
      for (int c = 0; c < 3; ++c) sh_sum[3 * k + c] += h[k] * de[c];
    }
    // dn = upstream normal + sum_k w_k dH_k/dn.
    float dn[3] = {grad.normals ? grad.normals[3 * i] : 0.0f, grad.normals ? grad.normals[3 * i + 1] : 0.0f,
                   grad.normals ? grad.normals[3 * i + 2] : 0.0f};
    dn[0] += kH1 * w[3] + kH2 * (y * w[4] + z * w[7]) + 2.0f * kH22 * x * w[8];
    dn[1] += kH1 * w[1] + kH2 * (x * w[4] + z * w[5]) - 2.0f * kH22 * y * w[8];
    dn[2] += kH1 * w[2] + kH2 * (y * w[5] + x * w[7]) + 6.0f * kH20 * z * w[6];
    // n = s / sqrt(max(q, eps)): ds = scale (dn - n (n . dn)) where q >= eps, else scale dn.
    const float radial = q >= eps ? x * dn[0] + y * dn[1] + z * dn[2] : 0.0f;
    float* ds = grad_unnormalised + 3 * i;
    ds[0] = scale * (dn[0] - x * radial);
    ds[1] = scale * (dn[1] - y * radial);
    ds[2] = scale * (dn[2] - z * radial);
    // Direct camera-space gradient: upstream camera_vertices + A . upstream clip.
    float* dc = grad_camera + 3 * i;
    for (int j = 0; j < 3; ++j) {
      float g = grad.camera_vertices ? grad.camera_vertices[3 * i + j] : 0.0f;
      if (grad.clip) {
        const float* gc = grad.clip + 4 * i;
        g += a[4 * j] * gc[0] + a[4 * j + 1] * gc[1] + a[4 * j + 2] * gc[2] + a[4 * j + 3] * gc[3];
      }
      dc[j] = g;
    }
  }
  for (int k = 0; k < kShCoefficients * 3; ++k) sh_partial[k] += sh_sum[k];
}

void ShadeGradTrianglesCpu(const float* camera_vertices, const int32_t* triangles,
                           const float* grad_unnormalised, int64_t begin, int64_t end,
                           float* corner_grads) {
  for (int64_t t = begin; t < end; ++t) {
    const int32_t ia = triangles[3 * t], ib = triangles[3 * t + 1], ic = triangles[3 * t + 2];
    const float* pa = camera_vertices + 3 * ia;
    const float* pb = camera_vertices + 3 * ib;
    const float* pc = camera_vertices + 3 * ic;
    const float e1[3] = {pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]};
    const float e2[3] = {pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]};
    float df[3];
    for (int j = 0; j < 3; ++j) {
      df[j] = grad_unnormalised[3 * ia + j] + grad_unnormalised[3 * ib + j] + grad_unnormalised[3 * ic + j];
    }
    // f = e1 x e2: d/de1 = e2 x df, d/de2 = df x e1; e1 = b - a, e2 = c - a.
    float* g = corner_grads + 9 * t;
    Cross(e2, df, g + 3);
    Cross(df, e1, g + 6);
    for (int j = 0; j < 3; ++j) g[j] = -(g[3 + j] + g[6 + j]);
  }
}

void ShadeGradPoseCpu(const ShadeImage& image, const VertexCorners& incidence, const float* corner_grads,
                      const float* grad_camera, int64_t begin, int64_t end, float* grad_vertices,
                      double* pose_partial) {
  float r[9];  // a local copy: the outputs cannot alias it
  std::copy(image.rotation, image.rotation + 9, r);
  float pose_sum[12] = {};  // this range's sum in float, as in ShadeGradVerticesCpu
  for (int64_t i = begin; i < end; ++i) {
    float d[3] = {grad_camera[3 * i], grad_camera[3 * i + 1], grad_camera[3 * i + 2]};
    for (int64_t j = incidence.offsets[i]; j < incidence.offsets[i + 1]; ++j) {
      const float* g = corner_grads + 3 * static_cast<int64_t>(incidence.corners[j]);
      d[0] += g[0];
      d[1] += g[1];
      d[2] += g[2];
    }
    const float* v = image.vertices + 3 * i;
    float* out = grad_vertices + 3 * i;
    for (int m = 0; m < 3; ++m) out[m] = r[m] * d[0] + r[3 + m] * d[1] + r[6 + m] * d[2];
    for (int j = 0; j < 3; ++j) {
      for (int m = 0; m < 3; ++m) pose_sum[3 * j + m] += d[j] * v[m];
      pose_sum[9 + j] += d[j];
    }
  }
  for (int k = 0; k < 12; ++k) pose_partial[k] += pose_sum[k];
}

}  // namespace c3dmm
