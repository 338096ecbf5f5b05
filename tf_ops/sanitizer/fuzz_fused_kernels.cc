// Framework-free fuzz harness of the fused CPU kernels (tf_ops/cc/shade_vertices_cpu.cc,
// basis_product_cpu.cc, masked_squared_error_cpu.cc, upsample_nodes_cpu.cc), built with AddressSanitizer +
// UndefinedBehaviorSanitizer by tf_ops/sanitizer/run.sh.
//
// Usage: fuzz_fused_kernels [cases=10000] [seed=1]
//
// Each case draws sizes (0 and 1 included, block edges of the TF op's work split), values (ordinary,
// NaN / +-Inf / huge / tiny / denormal / -0) and triangles whose indices are valid but extreme (0,
// N - 1, repeated: degenerate triangles, vertices in no triangle), as the op passes them after
// validation, and runs every kernel into buffers of exactly the right size, over ranges split as the op
// splits them. Checks:
//   - the incidence lists every corner once, under its vertex (and the node index every entry once);
//   - per-vertex outputs do not depend on how the range is split (bit for bit, NaN equals NaN);
//   - with finite, moderate inputs: unit (or zero) normals, finite outputs, and sums that match a
//     double-precision reference (basis product, masked squared error, the SH and pose gradients'
//     per-range partial sums added up);
//   - every element of each output range is written.
// Every case runs with flush-to-zero and denormals-are-zero on (as under TensorFlow) and off.
// Exit status 0 when every check passed (sanitizer reports abort the run with a non-zero status).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "tf_ops/cc/basis_product_cpu.h"
#include "tf_ops/cc/masked_squared_error_cpu.h"
#include "tf_ops/cc/shade_vertices_cpu.h"
#include "tf_ops/cc/upsample_nodes_cpu.h"

namespace {

int g_failures = 0;
int g_case = 0;

#define CHECK_OR_REPORT(cond, ...)                 \
  do {                                             \
    if (!(cond)) {                                 \
      if (++g_failures <= 20) {                    \
        std::fprintf(stderr, "case %d: ", g_case); \
        std::fprintf(stderr, __VA_ARGS__);         \
        std::fprintf(stderr, "\n");                \
      }                                            \
    }                                              \
  } while (0)

constexpr float kUnwritten = -7.25f;  // what every output buffer holds before a kernel runs

// A heap buffer of exactly n elements (no slack), so that AddressSanitizer sees any overrun.
template <typename T>
std::unique_ptr<T[]> Exact(size_t n, T fill) {
  std::unique_ptr<T[]> p(new T[n == 0 ? 1 : n]);
  for (size_t i = 0; i < n; ++i) p[i] = fill;
  return p;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

bool SameFloat(float a, float b) { return (std::isnan(a) && std::isnan(b)) || Bits(a) == Bits(b); }

void SetFlushToZero(bool on) {
#if defined(__SSE2__)
  const unsigned int kFtzDaz = 0x8040;
  _mm_setcsr(on ? (_mm_getcsr() | kFtzDaz) : (_mm_getcsr() & ~kFtzDaz));
#else
  (void)on;
#endif
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  float Uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  float Special() {
    static const float kValues[] = {
        std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity(), 0.0f, -0.0f, FLT_MIN, -FLT_MIN,
        std::numeric_limits<float>::denorm_min(), 1e-38f, 1e38f, -1e38f, FLT_MAX, -FLT_MAX, 1e-20f,
        1e20f, 1e-7f, 16777216.0f};
    return kValues[Int(0, sizeof(kValues) / sizeof(kValues[0]) - 1)];
  }
  // An ordinary value, or (with probability `special`) one of the above.
  float Value(float scale, double special) { return Chance(special) ? Special() : Uniform(-scale, scale); }

 private:
  std::mt19937_64 rng_;
};

// Random split points of [0, n): the op's blocks and anything else (single elements, empty ranges).
std::vector<int64_t> Splits(Gen& g, int64_t n) {
  std::vector<int64_t> cuts = {0, n};
  const int extra = g.Int(0, 4);
  for (int k = 0; k < extra; ++k) cuts.push_back(n == 0 ? 0 : g.Int(0, static_cast<int>(n)));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

bool AllFinite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

// ------------------------------------------------------------------------------------ ShadeVertices

void ShadeCase(Gen& g, const char* mode) {
  static const int kSizes[] = {0, 1, 2, 3, 7, 8, 9, 17, 1023, 1024, 1025};
  const int64_t n = g.Chance(0.3) ? kSizes[g.Int(0, 10)] : g.Int(0, 300);
  const int most = 2 * static_cast<int>(std::min<int64_t>(n, 600));
  const int64_t t = n == 0 ? 0 : (g.Chance(0.1) ? 0 : g.Int(1, most));
  const double special = g.Chance(0.3) ? g.Uniform(0.0f, 0.2f) : 0.0;
  const bool moderate = special == 0.0;
  std::vector<int32_t> triangles(3 * t);
  for (auto& index : triangles) {
    const int pick = g.Int(0, 9);
    index = pick == 0 ? 0 : pick == 1 ? static_cast<int32_t>(n - 1) : g.Int(0, static_cast<int>(n - 1));
  }
  std::vector<float> vertices(3 * n), albedo(3 * n), sh(27), rotation(9), translation(3), clip_transform(16);
  for (auto& x : vertices) x = g.Value(2.0f, special);
  for (auto& x : albedo) x = g.Value(1.0f, special);
  for (auto& x : sh) x = g.Value(1.0f, special);
  for (auto& x : rotation) x = g.Value(1.0f, special);
  for (auto& x : translation) x = g.Value(5.0f, special);
  for (auto& x : clip_transform) x = g.Value(2.0f, special);
  const float eps = g.Chance(0.2) ? g.Uniform(1e-30f, 1.0f) : 1e-12f;
  const c3dmm::ShadeImage image{vertices.data(), albedo.data(), rotation.data(), translation.data(),
                                sh.data(), clip_transform.data()};

  c3dmm::VertexCorners incidence;
  c3dmm::BuildVertexCorners(triangles.data(), t, n, &incidence);
  CHECK_OR_REPORT(static_cast<int64_t>(incidence.offsets.size()) == n + 1 && incidence.offsets[n] == 3 * t,
                  "%s: incidence offsets", mode);
  std::vector<int> seen(3 * t, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = incidence.offsets[i]; j < incidence.offsets[i + 1]; ++j) {
      const int32_t corner = incidence.corners[j];
      CHECK_OR_REPORT(corner >= 0 && corner < 3 * t && triangles[corner] == i &&
                          incidence.triangles[j] == corner / 3,
                      "%s: corner %d listed under vertex %lld", mode, corner, static_cast<long long>(i));
      if (corner >= 0 && corner < 3 * t) ++seen[corner];
    }
  }
  for (int64_t c = 0; c < 3 * t; ++c) CHECK_OR_REPORT(seen[c] == 1, "%s: corner %lld listed %d times", mode,
                                                      static_cast<long long>(c), seen[c]);

  // Forward, once over the whole range and once split.
  struct Forward {
    std::unique_ptr<float[]> cam, clip, faces, normals, irradiance, colors;
  };
  auto forward = [&](const std::vector<int64_t>& vertex_cuts, const std::vector<int64_t>& triangle_cuts) {
    Forward f{Exact<float>(3 * n, kUnwritten), Exact<float>(4 * n, kUnwritten),
              Exact<float>(3 * t, kUnwritten), Exact<float>(3 * n, kUnwritten),
              Exact<float>(3 * n, kUnwritten), Exact<float>(3 * n, kUnwritten)};
    for (size_t k = 0; k + 1 < vertex_cuts.size(); ++k) {
      c3dmm::ShadeTransformCpu(image, vertex_cuts[k], vertex_cuts[k + 1], f.cam.get(), f.clip.get());
    }
    for (size_t k = 0; k + 1 < triangle_cuts.size(); ++k) {
      c3dmm::FaceNormalsCpu(f.cam.get(), triangles.data(), triangle_cuts[k], triangle_cuts[k + 1],
                            f.faces.get());
    }
    for (size_t k = 0; k + 1 < vertex_cuts.size(); ++k) {
      c3dmm::ShadeNormalsCpu(image, incidence, f.faces.get(), eps, vertex_cuts[k], vertex_cuts[k + 1],
                             f.normals.get(), f.irradiance.get(), f.colors.get());
    }
    return f;
  };
  const Forward whole = forward({0, n}, {0, t});
  const Forward split = forward(Splits(g, n), Splits(g, t));
  const float* pairs[][2] = {{whole.cam.get(), split.cam.get()}, {whole.normals.get(), split.normals.get()},
                             {whole.irradiance.get(), split.irradiance.get()},
                             {whole.colors.get(), split.colors.get()}};
  for (const auto& pair : pairs) {
    for (int64_t i = 0; i < 3 * n; ++i) {
      CHECK_OR_REPORT(SameFloat(pair[0][i], pair[1][i]), "%s: forward depends on the split at %lld", mode,
                      static_cast<long long>(i));
      CHECK_OR_REPORT(Bits(pair[0][i]) != Bits(kUnwritten) || !moderate, "%s: forward output unwritten",
                      mode);
    }
  }
  if (moderate) {
    for (int64_t i = 0; i < n; ++i) {
      const float* v = &whole.normals[3 * i];
      const double length = std::sqrt(double(v[0]) * v[0] + double(v[1]) * v[1] + double(v[2]) * v[2]);
      CHECK_OR_REPORT(std::isfinite(length) && length <= 1.0 + 1e-5, "%s: normal %lld has length %g", mode,
                      static_cast<long long>(i), length);
    }
    CHECK_OR_REPORT(AllFinite(whole.colors.get(), 3 * n) && AllFinite(whole.clip.get(), 4 * n),
                    "%s: non-finite output from finite inputs", mode);
  }

  // Gradient, with arbitrary upstream gradients, whole and split.
  std::vector<std::vector<float>> upstream(5);
  for (int k = 0; k < 5; ++k) {
    upstream[k].resize((k == 4 ? 4 : 3) * n);
    for (auto& x : upstream[k]) x = g.Chance(0.2) ? 0.0f : g.Value(1.0f, special);
  }
  const c3dmm::ShadeUpstream grad{upstream[0].data(), upstream[1].data(), upstream[2].data(),
                                  upstream[3].data(), upstream[4].data()};
  struct Backward {
    std::unique_ptr<float[]> albedo, unnormalised, corners, vertices;
    double sums[39];
  };
  auto backward = [&](const std::vector<int64_t>& vertex_cuts, const std::vector<int64_t>& triangle_cuts) {
    Backward b{Exact<float>(3 * n, kUnwritten), Exact<float>(3 * n, kUnwritten),
               Exact<float>(9 * t, kUnwritten), Exact<float>(3 * n, kUnwritten), {}};
    for (size_t k = 0; k + 1 < vertex_cuts.size(); ++k) {
      c3dmm::ShadeGradVerticesCpu(image, incidence, whole.faces.get(), whole.irradiance.get(), grad, eps,
                                  vertex_cuts[k], vertex_cuts[k + 1], b.albedo.get(), b.unnormalised.get(),
                                  b.sums);
    }
    for (size_t k = 0; k + 1 < triangle_cuts.size(); ++k) {
      c3dmm::ShadeGradTrianglesCpu(whole.cam.get(), triangles.data(), b.unnormalised.get(), triangle_cuts[k],
                                   triangle_cuts[k + 1], b.corners.get());
    }
    for (size_t k = 0; k + 1 < vertex_cuts.size(); ++k) {
      c3dmm::ShadeGradPoseCpu(image, incidence, b.corners.get(), grad, vertex_cuts[k], vertex_cuts[k + 1],
                              b.vertices.get(), b.sums + 27);
    }
    return b;
  };
  const Backward whole_grad = backward({0, n}, {0, t});
  const Backward split_grad = backward(Splits(g, n), Splits(g, t));
  for (int64_t i = 0; i < 3 * n; ++i) {
    CHECK_OR_REPORT(SameFloat(whole_grad.albedo[i], split_grad.albedo[i]) &&
                        SameFloat(whole_grad.vertices[i], split_grad.vertices[i]),
                    "%s: gradient depends on the split at %lld", mode, static_cast<long long>(i));
  }
  if (moderate && n > 0) {
    CHECK_OR_REPORT(AllFinite(whole_grad.vertices.get(), 3 * n) && AllFinite(whole_grad.albedo.get(), 3 * n),
                    "%s: non-finite gradient from finite inputs", mode);
    // The SH and pose gradients are float sums over the range, rounded differently when it is split:
    // they must agree to float rounding of sums of terms as large as the per-vertex gradients.
    double magnitude = 1.0;
    for (int64_t i = 0; i < 3 * n; ++i) {
      magnitude += std::abs(whole_grad.vertices[i]) + std::abs(whole_grad.albedo[i]);
    }
    for (int k = 0; k < 39; ++k) {
      const double a = whole_grad.sums[k], b = split_grad.sums[k];
      CHECK_OR_REPORT(std::abs(a - b) <= 1e-4 * magnitude, "%s: partial sum %d: %g vs %g (scale %g)", mode, k,
                      a, b, magnitude);
    }
  }
}

// ------------------------------------------------------------------------------------- BasisProduct

void BasisCase(Gen& g, const char* mode) {
  static const int kRows[] = {0, 1, 2, 1023, 1024, 1025, 2049};
  const int64_t batch = g.Int(0, 5);
  const int64_t rows = g.Chance(0.3) ? kRows[g.Int(0, 6)] : g.Int(0, 300);
  const int64_t columns = g.Int(0, 90);
  const double special = g.Chance(0.2) ? 0.05 : 0.0;
  std::vector<float> coefficients(batch * columns), basis(rows * columns), grad_out(batch * rows);
  for (auto& x : coefficients) x = g.Value(1.0f, special);
  for (auto& x : basis) x = g.Value(1.0f, special);
  for (auto& x : grad_out) x = g.Value(1.0f, special);
  auto out = Exact<float>(batch * rows, kUnwritten);
  auto grad_basis = Exact<float>(rows * columns, kUnwritten);
  auto partial = Exact<float>(batch * columns, 0.0f);
  const auto cuts = Splits(g, rows);
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    c3dmm::BasisProductCpu(coefficients.data(), basis.data(), batch, rows, columns, cuts[k], cuts[k + 1],
                           out.get());
    c3dmm::BasisProductGradCpu(coefficients.data(), basis.data(), grad_out.data(), batch, rows, columns,
                               cuts[k], cuts[k + 1], grad_basis.get(), partial.get());
  }
  if (special > 0.0) return;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < rows; ++i) {
      double want = 0.0;
      for (int64_t k = 0; k < columns; ++k) {
        want += double(coefficients[b * columns + k]) * basis[i * columns + k];
      }
      CHECK_OR_REPORT(std::abs(out[b * rows + i] - want) <= 1e-4 * (1.0 + std::abs(want)),
                      "%s: basis product (%lld, %lld): %g vs %g", mode, static_cast<long long>(b),
                      static_cast<long long>(i), out[b * rows + i], want);
    }
    for (int64_t k = 0; k < columns; ++k) {
      double want = 0.0;
      for (int64_t i = 0; i < rows; ++i) want += double(grad_out[b * rows + i]) * basis[i * columns + k];
      CHECK_OR_REPORT(std::abs(partial[b * columns + k] - want) <= 1e-3 * (1.0 + std::abs(want)),
                      "%s: coefficient gradient: %g vs %g", mode, partial[b * columns + k], want);
    }
  }
  for (int64_t i = 0; i < rows * columns; ++i) {
    CHECK_OR_REPORT(Bits(grad_basis[i]) != Bits(kUnwritten), "%s: basis gradient unwritten", mode);
  }
}

// ------------------------------------------------------------------------------- MaskedSquaredError

void ErrorCase(Gen& g, const char* mode) {
  const int64_t pixels = g.Chance(0.2) ? g.Int(0, 9) : g.Int(0, 40000);
  const int64_t channels = g.Int(0, 5);
  const double special = g.Chance(0.2) ? 0.02 : 0.0;
  std::vector<float> a(pixels * channels), b(pixels * channels), mask(pixels);
  for (auto& x : a) x = g.Value(1.0f, special);
  for (auto& x : b) x = g.Value(1.0f, special);
  for (auto& x : mask) x = g.Chance(0.5) ? 1.0f : (g.Chance(0.9) ? 0.0f : g.Value(1.0f, special));
  const float upstream = g.Value(2.0f, special);
  auto grad = Exact<float>(pixels * channels, kUnwritten);
  double total = 0.0;
  const auto cuts = Splits(g, pixels);
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    total += c3dmm::MaskedSquaredErrorCpu(a.data(), b.data(), mask.data(), channels, cuts[k], cuts[k + 1]);
    c3dmm::MaskedSquaredErrorGradCpu(a.data(), b.data(), mask.data(), channels, upstream, cuts[k],
                                     cuts[k + 1], grad.get());
  }
  for (int64_t i = 0; i < pixels * channels; ++i) {
    CHECK_OR_REPORT(Bits(grad[i]) != Bits(kUnwritten), "%s: error gradient unwritten", mode);
  }
  if (special > 0.0) return;
  double want = 0.0;
  for (int64_t p = 0; p < pixels; ++p) {
    double e = 0.0;
    for (int64_t c = 0; c < channels; ++c) {
      e += std::pow(double(a[p * channels + c]) - b[p * channels + c], 2);
    }
    want += mask[p] * e;
  }
  CHECK_OR_REPORT(std::abs(total - want) <= 1e-4 * (1.0 + std::abs(want)),
                  "%s: masked squared error %g vs %g", mode, total, want);
}

// ------------------------------------------------------------------------------------ UpsampleNodes

void UpsampleCase(Gen& g, const char* mode) {
  static const int kVertices[] = {0, 1, 2, 1023, 1024, 1025, 2100};
  const int64_t n = g.Chance(0.3) ? kVertices[g.Int(0, 6)] : g.Int(0, 300);
  const int64_t k = g.Int(0, 6);
  const int64_t nodes = g.Int(1, 300);
  const int64_t channels = g.Chance(0.6) ? 3 : g.Int(0, 5);
  const double special = g.Chance(0.2) ? 0.05 : 0.0;
  std::vector<int32_t> neighbours(n * k);
  for (auto& index : neighbours) {
    const int pick = g.Int(0, 9);
    const int last = static_cast<int>(nodes - 1);
    index = pick == 0 ? 0 : pick == 1 ? last : g.Int(0, last);
  }
  std::vector<float> weights(n * k), values(nodes * channels), grad_out(n * channels);
  for (auto& x : weights) x = g.Chance(0.1) ? 0.0f : g.Value(1.0f, special);
  for (auto& x : values) x = g.Value(2.0f, special);
  for (auto& x : grad_out) x = g.Value(1.0f, special);
  c3dmm::NodeEntries index;
  c3dmm::BuildNodeEntries(neighbours.data(), n, k, nodes, &index);
  std::vector<int> seen(n * k, 0);
  for (int64_t node = 0; node < nodes; ++node) {
    for (int64_t j = index.offsets[node]; j < index.offsets[node + 1]; ++j) {
      const int64_t e = index.entries[j];
      const bool listed = e >= 0 && e < n * k && neighbours[e] == node;
      CHECK_OR_REPORT(listed && index.vertices[j] == e / std::max<int64_t>(k, 1),
                      "%s: entry %lld listed under node %lld", mode, static_cast<long long>(e),
                      static_cast<long long>(node));
      if (e >= 0 && e < n * k) ++seen[e];
    }
  }
  for (int64_t e = 0; e < n * k; ++e) {
    CHECK_OR_REPORT(seen[e] == 1, "%s: entry listed %d times", mode, seen[e]);
  }
  auto out = Exact<float>(n * channels, kUnwritten);
  auto grad = Exact<float>(nodes * channels, kUnwritten);
  const auto vertex_cuts = Splits(g, n), node_cuts = Splits(g, nodes);
  for (size_t c = 0; c + 1 < vertex_cuts.size(); ++c) {
    c3dmm::UpsampleNodesCpu(values.data(), neighbours.data(), weights.data(), k, channels, vertex_cuts[c],
                            vertex_cuts[c + 1], out.get());
  }
  for (size_t c = 0; c + 1 < node_cuts.size(); ++c) {
    c3dmm::UpsampleNodesGradCpu(grad_out.data(), weights.data(), index, channels, node_cuts[c],
                                node_cuts[c + 1], grad.get());
  }
  for (int64_t i = 0; i < n * channels; ++i) {
    CHECK_OR_REPORT(Bits(out[i]) != Bits(kUnwritten) || special > 0.0, "%s: upsampled value unwritten", mode);
  }
  for (int64_t i = 0; i < nodes * channels; ++i) {
    CHECK_OR_REPORT(Bits(grad[i]) != Bits(kUnwritten) || special > 0.0, "%s: node gradient unwritten", mode);
  }
  if (special > 0.0) return;
  std::vector<double> want_grad(nodes * channels, 0.0);
  for (int64_t v = 0; v < n; ++v) {
    for (int64_t c = 0; c < channels; ++c) {
      double want = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        want += double(weights[v * k + j]) * values[neighbours[v * k + j] * channels + c];
        const double contribution = double(weights[v * k + j]) * grad_out[v * channels + c];
        want_grad[neighbours[v * k + j] * channels + c] += contribution;
      }
      CHECK_OR_REPORT(std::abs(out[v * channels + c] - want) <= 1e-5 * (1.0 + std::abs(want)),
                      "%s: upsampled %g vs %g", mode, out[v * channels + c], want);
    }
  }
  for (int64_t i = 0; i < nodes * channels; ++i) {
    CHECK_OR_REPORT(std::abs(grad[i] - want_grad[i]) <= 1e-4 * (1.0 + std::abs(want_grad[i])),
                    "%s: node gradient %g vs %g", mode, grad[i], want_grad[i]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::atoi(argv[1]) : 10000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  for (g_case = 0; g_case < cases; ++g_case) {
    for (const bool ftz : {true, false}) {  // the same case in both modes
      Gen g(seed * 1000003u + static_cast<uint64_t>(g_case));
      SetFlushToZero(ftz);
      const char* mode = ftz ? "ftz" : "no-ftz";
      ShadeCase(g, mode);
      BasisCase(g, mode);
      ErrorCase(g, mode);
      UpsampleCase(g, mode);
      SetFlushToZero(false);
    }
  }
  std::printf("%d fused-kernel cases (seed %llu), failures: %d\n", cases,
              static_cast<unsigned long long>(seed), g_failures);
  return g_failures == 0 ? 0 : 1;
}
