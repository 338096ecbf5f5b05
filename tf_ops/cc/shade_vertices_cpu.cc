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
  constexpr int kW = 8;
  for (int64_t i0 = begin; i0 < end; i0 += kW) {
    const int width = static_cast<int>(std::min<int64_t>(kW, end - i0));
    float sx[kW] = {}, sy[kW] = {}, sz[kW] = {};
    for (int l = 0; l < width; ++l) {
      float s[3];
      SumFaceNormals(incidence, face_normals, i0 + l, s);
      sx[l] = s[0]; sy[l] = s[1]; sz[l] = s[2];
    }
    float nx[kW], ny[kW], nz[kW], e0[kW], e1[kW], e2[kW];
    for (int l = 0; l < kW; ++l) {
      const float q = sx[l] * sx[l] + sy[l] * sy[l] + sz[l] * sz[l];
      const float scale = 1.0f / __builtin_sqrtf(q > eps ? q : eps);
      const float x = sx[l] * scale, y = sy[l] * scale, z = sz[l] * scale;
      nx[l] = x; ny[l] = y; nz[l] = z;
      const float h1 = kH1 * y, h2 = kH1 * z, h3 = kH1 * x, h4 = kH2 * x * y, h5 = kH2 * y * z,
                  h6 = kH20 * (3.0f * z * z - 1.0f), h7 = kH2 * x * z, h8 = kH22 * (x * x - y * y);
      e0[l] = kH0 * sh[0] + h1 * sh[3] + h2 * sh[6] + h3 * sh[9] + h4 * sh[12] + h5 * sh[15] +
              h6 * sh[18] + h7 * sh[21] + h8 * sh[24];
      e1[l] = kH0 * sh[1] + h1 * sh[4] + h2 * sh[7] + h3 * sh[10] + h4 * sh[13] + h5 * sh[16] +
              h6 * sh[19] + h7 * sh[22] + h8 * sh[25];
      e2[l] = kH0 * sh[2] + h1 * sh[5] + h2 * sh[8] + h3 * sh[11] + h4 * sh[14] + h5 * sh[17] +
              h6 * sh[20] + h7 * sh[23] + h8 * sh[26];
    }
    for (int l = 0; l < width; ++l) {
      const int64_t i = i0 + l;
      normals[3 * i] = nx[l]; normals[3 * i + 1] = ny[l]; normals[3 * i + 2] = nz[l];
      irradiance[3 * i] = e0[l]; irradiance[3 * i + 1] = e1[l]; irradiance[3 * i + 2] = e2[l];
      colors[3 * i] = image.albedo[3 * i] * e0[l];
      colors[3 * i + 1] = image.albedo[3 * i + 1] * e1[l];
      colors[3 * i + 2] = image.albedo[3 * i + 2] * e2[l];
    }
  }
}

void ShadeGradVerticesCpu(const ShadeImage& image, const VertexCorners& incidence,
                          const float* face_normals, const float* irradiance, const ShadeUpstream& grad,
                          float eps, int64_t begin, int64_t end, float* grad_albedo,
                          float* grad_unnormalised, double* sh_partial) {
  float sh[kShCoefficients * 3];  // a local copy: the outputs cannot alias it
  std::copy(image.sh, image.sh + kShCoefficients * 3, sh);
  constexpr int kW = 8;
  float sh_lanes[kShCoefficients * 3][kW] = {};  // per-lane sums of this range
  for (int64_t i0 = begin; i0 < end; i0 += kW) {
    const int width = static_cast<int>(std::min<int64_t>(kW, end - i0));
    // Gather into lanes (lanes past `width` stay zero: they add nothing to the sums).
    float sx[kW] = {}, sy[kW] = {}, sz[kW] = {}, d0[kW] = {}, d1[kW] = {}, d2[kW] = {};
    float g0[kW] = {}, g1[kW] = {}, g2[kW] = {};
    for (int l = 0; l < width; ++l) {
      const int64_t i = i0 + l;
      float s[3];
      SumFaceNormals(incidence, face_normals, i, s);
      sx[l] = s[0]; sy[l] = s[1]; sz[l] = s[2];
      float de[3];
      for (int c = 0; c < 3; ++c) {
        const float g_color = grad.colors[3 * i + c];
        de[c] = grad.irradiance[3 * i + c] + g_color * image.albedo[3 * i + c];
        grad_albedo[3 * i + c] = g_color * irradiance[3 * i + c];
      }
      d0[l] = de[0]; d1[l] = de[1]; d2[l] = de[2];
      g0[l] = grad.normals[3 * i]; g1[l] = grad.normals[3 * i + 1]; g2[l] = grad.normals[3 * i + 2];
    }
    float o0[kW], o1[kW], o2[kW];
    for (int l = 0; l < kW; ++l) {
      const float q = sx[l] * sx[l] + sy[l] * sy[l] + sz[l] * sz[l];
      const float scale = 1.0f / __builtin_sqrtf(q > eps ? q : eps);
      const float x = sx[l] * scale, y = sy[l] * scale, z = sz[l] * scale;
      const float h[kShCoefficients] = {kH0, kH1 * y, kH1 * z, kH1 * x, kH2 * x * y, kH2 * y * z,
                                        kH20 * (3.0f * z * z - 1.0f), kH2 * x * z, kH22 * (x * x - y * y)};
      float w[kShCoefficients];
#pragma GCC unroll 9
      for (int k = 0; k < kShCoefficients; ++k) {
        w[k] = sh[3 * k] * d0[l] + sh[3 * k + 1] * d1[l] + sh[3 * k + 2] * d2[l];
        sh_lanes[3 * k][l] += h[k] * d0[l];
        sh_lanes[3 * k + 1][l] += h[k] * d1[l];
        sh_lanes[3 * k + 2][l] += h[k] * d2[l];
      }
      const float dx = g0[l] + kH1 * w[3] + kH2 * (y * w[4] + z * w[7]) + 2.0f * kH22 * x * w[8];
      const float dy = g1[l] + kH1 * w[1] + kH2 * (x * w[4] + z * w[5]) - 2.0f * kH22 * y * w[8];
      const float dz = g2[l] + kH1 * w[2] + kH2 * (y * w[5] + x * w[7]) + 6.0f * kH20 * z * w[6];
      const float radial = (q >= eps ? 1.0f : 0.0f) * (x * dx + y * dy + z * dz);
      o0[l] = scale * (dx - x * radial);
      o1[l] = scale * (dy - y * radial);
      o2[l] = scale * (dz - z * radial);
    }
    for (int l = 0; l < width; ++l) {
      const int64_t i = i0 + l;
      grad_unnormalised[3 * i] = o0[l];
      grad_unnormalised[3 * i + 1] = o1[l];
      grad_unnormalised[3 * i + 2] = o2[l];
    }
  }
  for (int k = 0; k < kShCoefficients * 3; ++k) {
    float sum = 0.0f;
    for (int l = 0; l < kW; ++l) sum += sh_lanes[k][l];
    sh_partial[k] += sum;
  }
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
                      const ShadeUpstream& grad, int64_t begin, int64_t end, float* grad_vertices,
                      double* pose_partial) {
  float r[9], a[16];  // local copies: the outputs cannot alias them
  std::copy(image.rotation, image.rotation + 9, r);
  std::copy(image.clip_transform, image.clip_transform + 16, a);
  float pose_sum[12] = {};  // this range's sum in float, as in ShadeGradVerticesCpu
  for (int64_t i = begin; i < end; ++i) {
    // d/dcam_i: upstream camera_vertices + A . upstream clip + the corner gradients of vertex i.
    const float* gc = grad.clip + 4 * i;
    float d[3];
    for (int j = 0; j < 3; ++j) {
      d[j] = grad.camera_vertices[3 * i + j] +
             (a[4 * j] * gc[0] + a[4 * j + 1] * gc[1] + a[4 * j + 2] * gc[2] + a[4 * j + 3] * gc[3]);
    }
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
