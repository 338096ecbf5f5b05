// Framework-free fuzz harness of the CPU rasterizer kernels (tf_ops/cc/rasterize_cpu*.cc), built with
// AddressSanitizer + UndefinedBehaviorSanitizer by tf_ops/sanitizer/run.sh.
//
// Usage: fuzz_kernels [cases=10000] [seed=1] [paths=all|baseline]
//
// Each case draws an image size (every edge: 1, 2, 7, 8, 9, 15, 16, 17 pixels, 16384 x 1 strips,
// random), a split into row bands (as the TF op splits work), vertices (ordinary, on pixel centres and
// edges, degenerate, collinear, huge and tiny, NaN / +-Inf / denormal / -0, w around the usable range
// [2^-64, 2^64] and beyond it) and triangles whose indices are valid but extreme (0, V - 1, repeated),
// as the op passes them after validation. Then it runs, into buffers of exactly the right size:
//   - the forward kernel of each available path (baseline, AVX2), band by band, and checks that every
//     pixel of each band is written and nothing outside it; that ids are in [-1, T); that background
//     pixels have barycentrics 0 and depth 1; that covered pixels have finite barycentrics in [0, 1]
//     summing to 1 (within 1e-5) and depth in [-1, 1]; and that both paths agree bit for bit;
//   - the gradient kernel of each path, with the forward's ids and with arbitrary ids in [-1, T) and
//     arbitrary (also non-finite) barycentrics and incoming gradients; checks that z and vertices no
//     pixel references get no gradient, and that both paths agree bit for bit (NaN equals NaN);
//   - the interpolation kernels with 0..5 channels, checking that background pixels get 0.
// Every case runs twice: with flush-to-zero and denormals-are-zero on (as under TensorFlow) and off.
// Exit status 0 when every check passed (sanitizer reports abort the run with a non-zero status).
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "tf_ops/cc/raster_common.h"
#include "tf_ops/cc/rasterize_cpu.h"
#include "tf_ops/cc/rasterize_cpu_paths.h"

namespace {

using c3dmm::CpuPath;

int g_failures = 0;

#define CHECK_OR_REPORT(cond, ...)                            \
  do {                                                        \
    if (!(cond)) {                                            \
      if (++g_failures <= 20) {                               \
        std::fprintf(stderr, "case %d: ", g_case);            \
        std::fprintf(stderr, __VA_ARGS__);                    \
        std::fprintf(stderr, "\n");                           \
      }                                                       \
    }                                                         \
  } while (0)

int g_case = 0;

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

// Bitwise equality, except that any NaN equals any NaN (NaN payloads may differ between compilers'
// operand orders; both paths produce NaN in the same places).
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
        std::numeric_limits<float>::denorm_min(), 1e-38f, 1e38f, -1e38f, FLT_MAX, -FLT_MAX,
        c3dmm::kMinW, c3dmm::kMaxW, std::nextafter(c3dmm::kMinW, 0.0f),
        std::nextafter(c3dmm::kMaxW, INFINITY), 1e-30f, 1e30f, 1e-20f, 1e20f, 8.5e37f, 1e-7f, 1.0f,
        -1.0f, 16777216.0f, 3e9f};
    return kValues[Int(0, sizeof(kValues) / sizeof(kValues[0]) - 1)];
  }

 private:
  std::mt19937_64 rng_;
};

struct Case {
  int height = 1, width = 1;
  std::vector<float> clip;       // [V, 4]
  std::vector<int32_t> triangles;  // [T, 3]
  int num_vertices() const { return static_cast<int>(clip.size() / 4); }
  int num_triangles() const { return static_cast<int>(triangles.size() / 3); }
};

Case MakeCase(Gen& g) {
  Case c;
  static const int kEdges[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33};
  const int kind = g.Int(0, 9);
  if (kind == 0) {  // a long strip at the maximum size
    const bool wide = g.Chance(0.5);
    c.height = wide ? g.Int(1, 2) : c3dmm::kMaxImageSize;
    c.width = wide ? c3dmm::kMaxImageSize : g.Int(1, 2);
  } else if (kind <= 4) {
    c.height = kEdges[g.Int(0, 10)];
    c.width = kEdges[g.Int(0, 10)];
  } else {
    c.height = g.Int(1, 70);
    c.width = g.Int(1, 70);
  }
  const int num_vertices = g.Chance(0.03) ? 0 : g.Int(1, 40);
  const int num_triangles = num_vertices == 0 ? 0 : g.Int(0, 60);
  const double special = g.Chance(0.3) ? g.Uniform(0.0f, 0.3f) : 0.0;
  const bool grid = g.Chance(0.3);  // positions on pixel centres and edges: ties and edge rules
  const bool huge_w = g.Chance(0.1);
  c.clip.resize(4 * static_cast<size_t>(num_vertices));
  for (int v = 0; v < num_vertices; ++v) {
    float* p = &c.clip[4 * static_cast<size_t>(v)];
    float w = huge_w ? g.Special() : g.Uniform(0.2f, 3.0f);
    if (g.Chance(0.05)) w = -w;
    if (grid) {
      const float half_x = g.Int(-2, 2 * c.width + 2) / static_cast<float>(c.width);
      const float half_y = g.Int(-2, 2 * c.height + 2) / static_cast<float>(c.height);
      p[0] = (half_x - 1.0f) * w;
      p[1] = (1.0f - half_y) * w;
    } else {
      p[0] = g.Uniform(-1.5f, 1.5f) * w;
      p[1] = g.Uniform(-1.5f, 1.5f) * w;
    }
    p[2] = g.Uniform(-1.2f, 1.2f) * w;
    p[3] = w;
    for (int k = 0; k < 4; ++k) {
      if (g.Chance(special)) p[k] = g.Special();
    }
  }
  if (num_vertices >= 3 && g.Chance(0.1)) {  // collinear
    for (int k = 0; k < 4; ++k) c.clip[8 + k] = 0.5f * (c.clip[k] + c.clip[4 + k]);
  }
  c.triangles.resize(3 * static_cast<size_t>(num_triangles));
  for (auto& index : c.triangles) {
    const int r = g.Int(0, 9);
    index = r == 0 ? 0 : r == 1 ? num_vertices - 1 : g.Int(0, num_vertices - 1);
  }
  if (num_triangles > 0 && g.Chance(0.1)) c.triangles[1] = c.triangles[0];  // degenerate
  return c;
}

// Row bands [begin, end) covering the image, possibly empty ones, as the op splits the work.
std::vector<std::pair<int, int>> Bands(Gen& g, int height) {
  const int count = g.Int(1, 4);
  std::vector<std::pair<int, int>> bands;
  for (int b = 0; b < count; ++b) {
    bands.emplace_back(static_cast<int>(static_cast<int64_t>(b) * height / count),
                       static_cast<int>(static_cast<int64_t>(b + 1) * height / count));
  }
  return bands;
}

struct Forward {
  std::unique_ptr<int32_t[]> ids;
  std::unique_ptr<float[]> bary, depth;
};

Forward RunForward(const Case& c, const std::vector<std::pair<int, int>>& bands, CpuPath path) {
  const size_t pixels = static_cast<size_t>(c.height) * c.width;
  Forward f{Exact<int32_t>(pixels, INT32_MIN), Exact<float>(3 * pixels, -7.0f),
            Exact<float>(pixels, -7.0f)};
  for (const auto& band : bands) {
    (path == CpuPath::kAvx2 ? c3dmm::RasterizeBandAvx2 : c3dmm::RasterizeBandBaseline)(
        c.clip.data(), c.num_vertices(), c.triangles.data(), c.num_triangles(), c.height, c.width,
        band.first, band.second, f.ids.get(), f.bary.get(), f.depth.get());
  }
  return f;
}

void CheckForward(const Case& c, const Forward& f, const char* mode) {
  const size_t pixels = static_cast<size_t>(c.height) * c.width;
  for (size_t p = 0; p < pixels; ++p) {
    const int32_t id = f.ids[p];
    const float* b = &f.bary[3 * p];
    CHECK_OR_REPORT(id >= -1 && id < c.num_triangles(), "%s: pixel %zu id %d not in [-1, %d)", mode, p,
                    id, c.num_triangles());
    if (id < 0) {
      CHECK_OR_REPORT(b[0] == 0.0f && b[1] == 0.0f && b[2] == 0.0f && f.depth[p] == 1.0f,
                      "%s: background pixel %zu has bary (%g %g %g) depth %g", mode, p, b[0], b[1],
                      b[2], f.depth[p]);
      continue;
    }
    const double sum = static_cast<double>(b[0]) + b[1] + b[2];
    bool ok = std::fabs(sum - 1.0) <= 1e-5;
    for (int k = 0; k < 3; ++k) ok = ok && std::isfinite(b[k]) && b[k] >= 0.0f && b[k] <= 1.00001f;
    CHECK_OR_REPORT(ok, "%s: covered pixel %zu (id %d) has bary (%g %g %g), sum %.9g", mode, p, id,
                    b[0], b[1], b[2], sum);
    CHECK_OR_REPORT(f.depth[p] >= -1.0f && f.depth[p] <= 1.0f, "%s: pixel %zu depth %g", mode, p,
                    f.depth[p]);
  }
}

void CompareForward(const Case& c, const Forward& a, const Forward& b, const char* mode) {
  const size_t pixels = static_cast<size_t>(c.height) * c.width;
  for (size_t p = 0; p < pixels; ++p) {
    bool same = a.ids[p] == b.ids[p] && SameFloat(a.depth[p], b.depth[p]);
    for (int k = 0; k < 3; ++k) same = same && SameFloat(a.bary[3 * p + k], b.bary[3 * p + k]);
    CHECK_OR_REPORT(same, "%s: paths differ at pixel %zu of %dx%d: ids %d/%d", mode, p, c.height,
                    c.width, a.ids[p], b.ids[p]);
    if (!same) return;
  }
}

std::unique_ptr<float[]> RunGrad(const Case& c, const std::vector<std::pair<int, int>>& bands,
                                 const int32_t* ids, const float* bary, const float* grad_bary,
                                 CpuPath path) {
  auto grad = Exact<float>(c.clip.size(), 0.0f);
  for (const auto& band : bands) {
    (path == CpuPath::kAvx2 ? c3dmm::RasterizeGradBandAvx2 : c3dmm::RasterizeGradBandBaseline)(
        c.clip.data(), c.triangles.data(), ids, bary, grad_bary, c.height, c.width, band.first,
        band.second, grad.get());
  }
  return grad;
}

void RunCase(Gen& g, bool ftz, bool avx2) {
  const char* mode = ftz ? "ftz" : "no-ftz";
  SetFlushToZero(ftz);
  const Case c = MakeCase(g);
  const auto bands = Bands(g, c.height);
  const size_t pixels = static_cast<size_t>(c.height) * c.width;
  const Forward base = RunForward(c, bands, CpuPath::kBaseline);
  CheckForward(c, base, mode);
  if (avx2) {
    const Forward fast = RunForward(c, bands, CpuPath::kAvx2);
    CompareForward(c, base, fast, mode);
  }
  // Gradient inputs: the forward's, or arbitrary ids in [-1, T) with arbitrary values.
  auto ids = Exact<int32_t>(pixels, -1);
  auto bary = Exact<float>(3 * pixels, 0.0f);
  auto grad_bary = Exact<float>(3 * pixels, 0.0f);
  const bool from_forward = g.Chance(0.5) || c.num_triangles() == 0;
  const double special = g.Chance(0.3) ? 0.1 : 0.0;
  for (size_t p = 0; p < pixels; ++p) {
    ids[p] = from_forward ? base.ids[p] : g.Int(-1, c.num_triangles() - 1);
    for (int k = 0; k < 3; ++k) {
      bary[3 * p + k] = from_forward ? base.bary[3 * p + k] : g.Uniform(-1.0f, 2.0f);
      grad_bary[3 * p + k] = g.Chance(0.2) ? 0.0f : g.Uniform(-1.0f, 1.0f);
      if (g.Chance(special)) bary[3 * p + k] = g.Special();
      if (g.Chance(special)) grad_bary[3 * p + k] = g.Special();
    }
  }
  const auto grad = RunGrad(c, bands, ids.get(), bary.get(), grad_bary.get(), CpuPath::kBaseline);
  std::vector<char> used(c.num_vertices(), 0);
  for (size_t p = 0; p < pixels; ++p) {
    if (ids[p] < 0) continue;
    for (int k = 0; k < 3; ++k) used[c.triangles[3 * static_cast<size_t>(ids[p]) + k]] = 1;
  }
  for (int v = 0; v < c.num_vertices(); ++v) {
    const float* d = &grad[4 * static_cast<size_t>(v)];
    CHECK_OR_REPORT(Bits(d[2]) == 0, "%s: vertex %d got a z gradient %g", mode, v, d[2]);
    if (!used[v]) {
      CHECK_OR_REPORT(Bits(d[0]) == 0 && Bits(d[1]) == 0 && Bits(d[3]) == 0,
                      "%s: unreferenced vertex %d got a gradient", mode, v);
    }
  }
  if (avx2) {
    const auto fast = RunGrad(c, bands, ids.get(), bary.get(), grad_bary.get(), CpuPath::kAvx2);
    for (size_t i = 0; i < c.clip.size(); ++i) {
      CHECK_OR_REPORT(SameFloat(grad[i], fast[i]), "%s: gradient paths differ at %zu: %a vs %a", mode,
                      i, grad[i], fast[i]);
    }
  }
  // Interpolation of 0..5 channels over a random pixel range.
  const int channels = g.Int(0, 5);
  std::vector<float> attributes(static_cast<size_t>(c.num_vertices()) * channels);
  for (auto& a : attributes) a = g.Chance(0.05) ? g.Special() : g.Uniform(-2.0f, 2.0f);
  const int64_t begin = g.Int(0, static_cast<int>(pixels)), end = g.Int(static_cast<int>(begin),
                                                                          static_cast<int>(pixels));
  auto out = Exact<float>(pixels * channels, -7.0f);
  c3dmm::InterpolateCpu(attributes.data(), channels, c.triangles.data(), ids.get(), bary.get(), begin,
                        end, out.get());
  for (int64_t p = begin; p < end; ++p) {
    if (ids[p] >= 0) continue;
    for (int ch = 0; ch < channels; ++ch) {
      CHECK_OR_REPORT(Bits(out[p * channels + ch]) == 0, "%s: background pixel %lld interpolated to %g",
                      mode, static_cast<long long>(p), out[p * channels + ch]);
    }
  }
  auto grad_out = Exact<float>(pixels * channels, 0.0f);
  for (size_t i = 0; i < pixels * channels; ++i) grad_out[i] = g.Uniform(-1.0f, 1.0f);
  auto grad_attributes = Exact<float>(attributes.size(), 0.0f);
  auto grad_bary_out = Exact<float>(3 * pixels, -7.0f);
  c3dmm::InterpolateGradCpu(attributes.data(), channels, c.triangles.data(), ids.get(), bary.get(),
                            grad_out.get(), begin, end, grad_attributes.get(), grad_bary_out.get());
  SetFlushToZero(false);
}

}  // namespace

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::atoi(argv[1]) : 10000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  const bool avx2 = c3dmm::CpuSupportsAvx2() && !(argc > 3 && std::strcmp(argv[3], "baseline") == 0);
  for (g_case = 0; g_case < cases; ++g_case) {
    for (const bool ftz : {true, false}) {  // the same case in both modes
      Gen g(seed * 1000003u + static_cast<uint64_t>(g_case));
      RunCase(g, ftz, avx2);
    }
  }
  std::printf("%d cases (seed %llu), paths compared: %s, failures: %d\n", cases,
              static_cast<unsigned long long>(seed), avx2 ? "baseline vs AVX2" : "baseline only",
              g_failures);
  return g_failures == 0 ? 0 : 1;
}
