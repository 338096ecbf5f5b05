// TF kernels of BasisProduct and BasisProductGrad (CPU): validate the inputs, allocate the outputs and
// run the framework-free kernels of basis_product_cpu.h over row blocks on TF's intra-op pool.
#include "tf_ops/cc/basis_product_cpu.h"
#include "tf_ops/cc/op_common.h"

namespace c3dmm {

namespace {

// coefficients [B, K], basis [D, K].
Status CheckBasisInputs(const Tensor& coefficients, const Tensor& basis) {
  if (coefficients.dims() != 2) {
    return InvalidArgument("coefficients must have shape [B, K], got ", coefficients.shape().DebugString());
  }
  if (basis.dims() != 2 || basis.dim_size(1) != coefficients.dim_size(1)) {
    return InvalidArgument("basis must have shape [D, K] with K = ", coefficients.dim_size(1), ", got ",
                           basis.shape().DebugString());
  }
  return Status();
}

int64_t RowBlocks(int64_t rows) { return (rows + kBasisBlock - 1) / kBasisBlock; }

}  // namespace

class BasisProductOp : public ::tensorflow::OpKernel {
 public:
  explicit BasisProductOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& coefficients = ctx->input(0);
    const Tensor& basis = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckBasisInputs(coefficients, basis));
    const int64_t batch = coefficients.dim_size(0), rows = basis.dim_size(0), columns = basis.dim_size(1);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch, rows}), &out));
    const float* c = coefficients.flat<float>().data();
    const float* m = basis.flat<float>().data();
    float* o = out->flat<float>().data();
    RunBlocksGrouped(ctx, RowBlocks(rows), "basis product", [&](int64_t unit) {
      BasisProductCpu(c, m, batch, rows, columns, unit * kBasisBlock,
                      std::min(rows, (unit + 1) * kBasisBlock), o);
    });
  }
};

class BasisProductGradOp : public ::tensorflow::OpKernel {
 public:
  explicit BasisProductGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& coefficients = ctx->input(0);
    const Tensor& basis = ctx->input(1);
    const Tensor& grad_out = ctx->input(2);
    OP_REQUIRES_OK(ctx, CheckBasisInputs(coefficients, basis));
    const int64_t batch = coefficients.dim_size(0), rows = basis.dim_size(0), columns = basis.dim_size(1);
    OP_REQUIRES_OK(ctx, CheckShape(grad_out, TensorShape({batch, rows}), "grad_out"));
    Tensor *grad_coefficients = nullptr, *grad_basis = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, coefficients.shape(), &grad_coefficients));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, basis.shape(), &grad_basis));
    const int64_t units = RowBlocks(rows);
    Tensor partial_t;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(::tensorflow::DT_FLOAT, TensorShape({units, batch * columns}),
                                           &partial_t));
    float* partial = partial_t.flat<float>().data();
    std::fill(partial, partial + units * batch * columns, 0.0f);
    const float* c = coefficients.flat<float>().data();
    const float* m = basis.flat<float>().data();
    const float* g = grad_out.flat<float>().data();
    float* gm = grad_basis->flat<float>().data();
    RunBlocksGrouped(ctx, units, "basis product gradient", [&](int64_t unit) {
      BasisProductGradCpu(c, m, g, batch, rows, columns, unit * kBasisBlock,
                          std::min(rows, (unit + 1) * kBasisBlock), gm, partial + unit * batch * columns);
    });
    // Row blocks summed in order: the same floats at any thread count.
    float* gc = grad_coefficients->flat<float>().data();
    std::fill(gc, gc + batch * columns, 0.0f);
    for (int64_t unit = 0; unit < units; ++unit) {
      const float* p = partial + unit * batch * columns;
      for (int64_t k = 0; k < batch * columns; ++k) gc[k] += p[k];
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("BasisProduct").Device(::tensorflow::DEVICE_CPU), BasisProductOp);
REGISTER_KERNEL_BUILDER(Name("BasisProductGrad").Device(::tensorflow::DEVICE_CPU), BasisProductGradOp);

}  // namespace c3dmm
