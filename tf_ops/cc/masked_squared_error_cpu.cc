// Framework-free CPU kernels of MaskedSquaredError (see masked_squared_error_cpu.h).
#include "tf_ops/cc/masked_squared_error_cpu.h"

namespace c3dmm {

double MaskedSquaredErrorCpu(const float* a, const float* b, const float* mask, int64_t channels,
                             int64_t begin, int64_t end) {
  // Eight interleaved float sums of ~2k pixels each (vectorisable without reassociation), then double.
  constexpr int kLanes = 8;
  float lanes[kLanes] = {};
  int64_t p = begin;
  for (; p + kLanes <= end; p += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      float e = 0.0f;
      for (int64_t c = 0; c < channels; ++c) {
        const float d = a[(p + l) * channels + c] - b[(p + l) * channels + c];
        e += d * d;
      }
      lanes[l] += mask[p + l] * e;
    }
  }
  double sum = 0.0;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  for (; p < end; ++p) {
    float e = 0.0f;
    for (int64_t c = 0; c < channels; ++c) {
      const float d = a[p * channels + c] - b[p * channels + c];
      e += d * d;
    }
    sum += static_cast<double>(mask[p] * e);
  }
  return sum;
}

void MaskedSquaredErrorGradCpu(const float* a, const float* b, const float* mask, int64_t channels,
                               float g, int64_t begin, int64_t end, float* grad_a) {
  const float two_g = 2.0f * g;
  for (int64_t p = begin; p < end; ++p) {
    const float scale = two_g * mask[p];
    for (int64_t c = 0; c < channels; ++c) {
      grad_a[p * channels + c] = scale * (a[p * channels + c] - b[p * channels + c]);
    }
  }
}

}  // namespace c3dmm
