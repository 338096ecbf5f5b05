// Framework-free CPU kernels of BasisProduct (see basis_product_cpu.h).
#include "tf_ops/cc/basis_product_cpu.h"

namespace c3dmm {

namespace {

// Lanes of the dot products: lane l sums the columns k = l (mod kLanes) in order, then the lanes are
// added in order. Independent lanes vectorise without reassociating any sum.
constexpr int kLanes = 8;

inline float Dot(const float* a, const float* b, int64_t n) {
  float lanes[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[k + l] * b[k + l];
  }
  for (int l = 0; k < n; ++k, ++l) lanes[l] += a[k] * b[k];
  float sum = 0.0f;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  return sum;
}

}  // namespace

void BasisProductCpu(const float* coefficients, const float* basis, int64_t batch, int64_t rows,
                     int64_t columns, int64_t begin, int64_t end, float* out) {
  for (int64_t i = begin; i < end; ++i) {
    const float* row = basis + i * columns;
    for (int64_t b = 0; b < batch; ++b) out[b * rows + i] = Dot(coefficients + b * columns, row, columns);
  }
}

void BasisProductGradCpu(const float* coefficients, const float* basis, const float* grad_out,
                         int64_t batch, int64_t rows, int64_t columns, int64_t begin, int64_t end,
                         float* grad_basis, float* coefficient_partial) {
  for (int64_t i = begin; i < end; ++i) {
    const float* row = basis + i * columns;
    float* grad_row = grad_basis + i * columns;
    for (int64_t k = 0; k < columns; ++k) grad_row[k] = 0.0f;
    for (int64_t b = 0; b < batch; ++b) {
      const float g = grad_out[b * rows + i];
      const float* coefficient_row = coefficients + b * columns;
      float* partial = coefficient_partial + b * columns;
      for (int64_t k = 0; k < columns; ++k) {
        grad_row[k] += g * coefficient_row[k];
        partial[k] += g * row[k];
      }
    }
  }
}

}  // namespace c3dmm
