// Framework-free CPU kernels of MaskedSquaredError, the photometric term of the paper (Eq. 8) before
// its normalisation: per image n, with a the rendered images, b the targets and mask the face masks,
//   out[n] = sum_p mask[n, p] sum_c (a[n, p, c] - b[n, p, c])^2,
// and its gradient, each in one pass over the pixels (where the same sum in TensorFlow ops is half a
// dozen passes over images of batch x 240 x 240 x 3 floats). The caller (masked_squared_error_op.cc)
// runs (image, block of kErrorBlock pixels) units; each call is single-threaded and writes only its
// pixels, and the per-unit partial sums are added in unit order (the same floats at any thread count).
#ifndef C3DMM_TF_OPS_MASKED_SQUARED_ERROR_CPU_H_
#define C3DMM_TF_OPS_MASKED_SQUARED_ERROR_CPU_H_

#include <cstdint>

namespace c3dmm {

constexpr int64_t kErrorBlock = 16384;  // pixels per work unit

// Pixels [begin, end) of one image (a, b: [P, C]; mask: [P]): returns the partial sum, in double.
double MaskedSquaredErrorCpu(const float* a, const float* b, const float* mask, int64_t channels,
                             int64_t begin, int64_t end);

// Gradient with respect to a for pixels [begin, end) of one image, given g = d loss / d out[n]:
//   grad_a = 2 g mask (a - b) ([P, C]). b (the target) and mask are constants of the loss.
void MaskedSquaredErrorGradCpu(const float* a, const float* b, const float* mask, int64_t channels,
                               float g, int64_t begin, int64_t end, float* grad_a);

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_MASKED_SQUARED_ERROR_CPU_H_
