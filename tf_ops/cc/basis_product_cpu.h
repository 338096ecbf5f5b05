// Framework-free CPU kernels of BasisProduct: a linear model's deformation (or albedo) from its
// coefficients, out[b, i] = sum_k coefficients[b, k] basis[i, k] (coefficients [B, K], basis [D, K]),
// and its gradient, each in one pass over the basis. Made for what a face model does with them: a tall,
// thin basis (D ~ 20k rows, K ~ 80 columns) against a handful of coefficient rows, where a general
// matrix product packs the whole basis first. The caller (basis_product_op.cc) validates the inputs and
// runs row blocks of kBasisBlock as units; each call is single-threaded and writes only its rows.
#ifndef C3DMM_TF_OPS_BASIS_PRODUCT_CPU_H_
#define C3DMM_TF_OPS_BASIS_PRODUCT_CPU_H_

#include <cstdint>

namespace c3dmm {

// Basis rows per work unit. Fixed, so that the per-unit partial sums of the coefficient gradient,
// summed in unit order, give the same floats at every thread count.
constexpr int64_t kBasisBlock = 1024;

// Rows [begin, end): out[b, i] for every b < batch (out: [batch, rows], row stride `rows`).
void BasisProductCpu(const float* coefficients, const float* basis, int64_t batch, int64_t rows,
                     int64_t columns, int64_t begin, int64_t end, float* out);

// Rows [begin, end) of the gradient, given grad_out [batch, rows]:
//   grad_basis[i, k] = sum_b grad_out[b, i] coefficients[b, k]   (written),
//   coefficient_partial[b, k] += sum_{i in [begin, end)} grad_out[b, i] basis[i, k]   ([batch, columns]).
void BasisProductGradCpu(const float* coefficients, const float* basis, const float* grad_out,
                         int64_t batch, int64_t rows, int64_t columns, int64_t begin, int64_t end,
                         float* grad_basis, float* coefficient_partial);

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_BASIS_PRODUCT_CPU_H_
