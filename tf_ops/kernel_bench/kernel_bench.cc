// Framework-free timing of the CPU raster and gradient kernels, both paths side by side (one thread,
// no TensorFlow): kernel_bench SCENE.bin SIZE RUNS. SCENE.bin holds int32 (batch, V, T), float32
// clip vertices [batch, V, 4] and int32 triangles [T, 3] (written by run.sh). Prints one JSON line:
// minimum and median milliseconds per batch of forward and backward for each path, and whether the
// paths' outputs are bit-identical. The paths alternate run by run; times are the thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), which other jobs on a shared machine inflate less than wall time (a VM's
// stolen time still counts). Built and run by tf_ops/kernel_bench/run.sh.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "tf_ops/cc/rasterize_cpu_paths.h"

namespace {

struct Result {
  std::vector<int32_t> ids;
  std::vector<float> bary, depth, grad;
  std::vector<double> forward_ms, backward_ms;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

double ThreadCpuMs() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SCENE.bin SIZE RUNS\n", argv[0]);
    return 2;
  }
  FILE* f = std::fopen(argv[1], "rb");
  int32_t header[3];
  if (f == nullptr || std::fread(header, 4, 3, f) != 3) return 1;
  const int batch = header[0], num_vertices = header[1], num_triangles = header[2];
  std::vector<float> clip(static_cast<size_t>(batch) * num_vertices * 4);
  std::vector<int32_t> triangles(static_cast<size_t>(num_triangles) * 3);
  if (std::fread(clip.data(), 4, clip.size(), f) != clip.size() ||
      std::fread(triangles.data(), 4, triangles.size(), f) != triangles.size()) {
    return 1;
  }
  std::fclose(f);
  const int size = std::atoi(argv[2]), runs = std::atoi(argv[3]);
  const size_t pixels = static_cast<size_t>(size) * size, stride = static_cast<size_t>(num_vertices) * 4;
  std::vector<float> grad_bary(batch * pixels * 3);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& g : grad_bary) g = normal(rng);
  const bool avx2 = c3dmm::CpuSupportsAvx2();
  Result results[2];
  const int paths = avx2 ? 2 : 1;
  for (int path = 0; path < paths; ++path) {
    Result& r = results[path];
    r.ids.resize(batch * pixels);
    r.bary.resize(batch * pixels * 3);
    r.depth.resize(batch * pixels);
    r.grad.resize(batch * stride);
  }
  // The paths alternate run by run, so that both see the same load on a shared machine.
  for (int run = 0; run < runs + 2; ++run) {  // 2 warm-up runs
    for (int path = 0; path < paths; ++path) {
      auto forward = path ? c3dmm::RasterizeBandAvx2 : c3dmm::RasterizeBandBaseline;
      auto backward = path ? c3dmm::RasterizeGradBandAvx2 : c3dmm::RasterizeGradBandBaseline;
      Result& r = results[path];
      const double t0 = ThreadCpuMs();
      for (int b = 0; b < batch; ++b) {
        forward(clip.data() + b * stride, num_vertices, triangles.data(), num_triangles, size, size, 0, size,
                r.ids.data() + b * pixels, r.bary.data() + b * pixels * 3, r.depth.data() + b * pixels);
      }
      const double t1 = ThreadCpuMs();
      std::fill(r.grad.begin(), r.grad.end(), 0.0f);
      for (int b = 0; b < batch; ++b) {
        backward(clip.data() + b * stride, triangles.data(), r.ids.data() + b * pixels,
                 r.bary.data() + b * pixels * 3, grad_bary.data() + b * pixels * 3, size, size, 0, size,
                 r.grad.data() + b * stride);
      }
      const double t2 = ThreadCpuMs();
      if (run < 2) continue;
      r.forward_ms.push_back(t1 - t0);
      r.backward_ms.push_back(t2 - t1);
    }
  }
  const Result &a = results[0], &b = results[avx2 ? 1 : 0];
  const bool same = a.ids == b.ids && std::memcmp(a.bary.data(), b.bary.data(), 4 * a.bary.size()) == 0 &&
                    std::memcmp(a.depth.data(), b.depth.data(), 4 * a.depth.size()) == 0 &&
                    std::memcmp(a.grad.data(), b.grad.data(), 4 * a.grad.size()) == 0;
  std::printf("{\"triangles\": %d, \"size\": %d, \"batch\": %d, \"runs\": %d, \"avx2\": %s, "
              "\"bit_identical\": %s", num_triangles, size, batch, runs, avx2 ? "true" : "false",
              same ? "true" : "false");
  const char* names[2] = {"baseline", "avx2"};
  for (int path = 0; path < paths; ++path) {
    const Result& r = results[path];
    std::printf(", \"%s\": {\"forward_min_ms\": %.3f, \"forward_median_ms\": %.3f, "
                "\"backward_min_ms\": %.3f, \"backward_median_ms\": %.3f}", names[path], Min(r.forward_ms),
                Median(r.forward_ms), Min(r.backward_ms), Median(r.backward_ms));
  }
  std::printf("}\n");
  return same ? 0 : 1;
}
