// TF kernels of MaskedSquaredError and its gradient (CPU): validate the inputs, allocate the outputs and
// run the framework-free kernels of masked_squared_error_cpu.h over (image, pixel block) units.
#include <vector>

#include "tf_ops/cc/masked_squared_error_cpu.h"
#include "tf_ops/cc/op_common.h"

namespace c3dmm {

namespace {

// a, b: [N, P, C]; mask: [N, P].
Status CheckErrorInputs(const Tensor& a, const Tensor& b, const Tensor& mask) {
  if (a.dims() != 3) return InvalidArgument("a must have shape [N, P, C], got ", a.shape().DebugString());
  TF_RETURN_IF_ERROR(CheckShape(b, a.shape(), "b"));
  return CheckShape(mask, TensorShape({a.dim_size(0), a.dim_size(1)}), "mask");
}

int64_t PixelBlocks(int64_t pixels) { return std::max<int64_t>((pixels + kErrorBlock - 1) / kErrorBlock, 1); }

}  // namespace

class MaskedSquaredErrorOp : public ::tensorflow::OpKernel {
 public:
  explicit MaskedSquaredErrorOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& a = ctx->input(0);
    const Tensor& b = ctx->input(1);
    const Tensor& mask = ctx->input(2);
    OP_REQUIRES_OK(ctx, CheckErrorInputs(a, b, mask));
    const int64_t images = a.dim_size(0), pixels = a.dim_size(1), channels = a.dim_size(2);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({images}), &out));
    const int64_t blocks = PixelBlocks(pixels);
    std::vector<double> partial(images * blocks, 0.0);
    const float *pa = a.flat<float>().data(), *pb = b.flat<float>().data(), *pm = mask.flat<float>().data();
    RunBlocksGrouped(ctx, images * blocks, "masked squared error", [&](int64_t unit) {
      const int64_t n = unit / blocks, block = unit % blocks;
      partial[unit] = MaskedSquaredErrorCpu(pa + n * pixels * channels, pb + n * pixels * channels,
                                            pm + n * pixels, channels, block * kErrorBlock,
                                            std::min(pixels, (block + 1) * kErrorBlock));
    });
    float* o = out->flat<float>().data();
    for (int64_t n = 0; n < images; ++n) {
      double sum = 0.0;
      for (int64_t block = 0; block < blocks; ++block) sum += partial[n * blocks + block];
      o[n] = static_cast<float>(sum);
    }
  }
};

class MaskedSquaredErrorGradOp : public ::tensorflow::OpKernel {
 public:
  explicit MaskedSquaredErrorGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& a = ctx->input(0);
    const Tensor& b = ctx->input(1);
    const Tensor& mask = ctx->input(2);
    const Tensor& grad_out = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckErrorInputs(a, b, mask));
    const int64_t images = a.dim_size(0), pixels = a.dim_size(1), channels = a.dim_size(2);
    OP_REQUIRES_OK(ctx, CheckShape(grad_out, TensorShape({images}), "grad_out"));
    Tensor* grad_a = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, a.shape(), &grad_a));
    const int64_t blocks = PixelBlocks(pixels);
    const float *pa = a.flat<float>().data(), *pb = b.flat<float>().data(), *pm = mask.flat<float>().data();
    const float* g = grad_out.flat<float>().data();
    float* ga = grad_a->flat<float>().data();
    RunBlocksGrouped(ctx, images * blocks, "masked squared error gradient", [&](int64_t unit) {
      const int64_t n = unit / blocks, block = unit % blocks;
      const int64_t offset = n * pixels * channels;
      MaskedSquaredErrorGradCpu(pa + offset, pb + offset, pm + n * pixels, channels, g[n],
                                block * kErrorBlock, std::min(pixels, (block + 1) * kErrorBlock),
                                ga + offset);
    });
  }
};

REGISTER_KERNEL_BUILDER(Name("MaskedSquaredError").Device(::tensorflow::DEVICE_CPU), MaskedSquaredErrorOp);
REGISTER_KERNEL_BUILDER(Name("MaskedSquaredErrorGrad").Device(::tensorflow::DEVICE_CPU),
                        MaskedSquaredErrorGradOp);

}  // namespace c3dmm
