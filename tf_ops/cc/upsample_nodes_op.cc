// TF kernels of UpsampleNodes and UpsampleNodesGrad (CPU): validate the inputs, allocate the outputs and
// run the framework-free kernels of upsample_nodes_cpu.h as (image, block) units on TF's intra-op pool.
#include "tf_ops/cc/op_common.h"
#include "tf_ops/cc/upsample_nodes_cpu.h"

namespace c3dmm {

namespace {

// values [B, G, C] (or grad_out [B, N, C] with G given), neighbours int32 [N, K], weights [N, K].
Status CheckUpsampleInputs(const Tensor& values, const Tensor& neighbours, const Tensor& weights) {
  if (values.dims() != 3) {
    return InvalidArgument("values must have shape [B, G, C], got ", values.shape().DebugString());
  }
  if (neighbours.dims() != 2) {
    return InvalidArgument("neighbours must have shape [N, K], got ", neighbours.shape().DebugString());
  }
  if (neighbours.dim_size(0) > kMaxElements || neighbours.dim_size(1) > kMaxElements) {
    return InvalidArgument("neighbours ", neighbours.shape().DebugString(), ": too large");
  }
  return CheckShape(weights, neighbours.shape(), "weights");
}

template <typename Fn>
void RunUpsampleBlocks(OpKernelContext* ctx, int64_t batch, int64_t count, const char* what, const Fn& fn) {
  const int64_t blocks = (count + kUpsampleBlock - 1) / kUpsampleBlock;
  RunBlocksGrouped(ctx, batch * blocks, what, [&](int64_t unit) {
    const int64_t block = unit % blocks;
    fn(unit / blocks, block * kUpsampleBlock, std::min(count, (block + 1) * kUpsampleBlock));
  });
}

}  // namespace

class UpsampleNodesOp : public ::tensorflow::OpKernel {
 public:
  explicit UpsampleNodesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& values = ctx->input(0);
    const Tensor& weights = ctx->input(2);
    OP_REQUIRES_OK(ctx, CheckUpsampleInputs(values, ctx->input(1), weights));
    const int64_t batch = values.dim_size(0), nodes = values.dim_size(1), channels = values.dim_size(2);
    Tensor neighbours;
    OP_REQUIRES_OK(ctx, Int32Indices<CpuTag>(ctx, ctx->input(1), 0, nodes, "neighbours", &neighbours));
    const int64_t n = neighbours.dim_size(0), k = neighbours.dim_size(1);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch, n, channels}), &out));
    const float* v = values.flat<float>().data();
    const int32_t* nb = neighbours.flat<int32_t>().data();
    const float* w = weights.flat<float>().data();
    float* o = out->flat<float>().data();
    RunUpsampleBlocks(ctx, batch, n, "upsample nodes", [&](int64_t b, int64_t begin, int64_t end) {
      UpsampleNodesCpu(v + b * nodes * channels, nb, w, k, channels, begin, end, o + b * n * channels);
    });
  }
};

// Inputs: values (for its shape), neighbours, weights, grad_out [B, N, C].
class UpsampleNodesGradOp : public ::tensorflow::OpKernel {
 public:
  explicit UpsampleNodesGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& values = ctx->input(0);
    const Tensor& weights = ctx->input(2);
    const Tensor& grad_out = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckUpsampleInputs(values, ctx->input(1), weights));
    const int64_t batch = values.dim_size(0), nodes = values.dim_size(1), channels = values.dim_size(2);
    Tensor neighbours;
    OP_REQUIRES_OK(ctx, Int32Indices<CpuTag>(ctx, ctx->input(1), 0, nodes, "neighbours", &neighbours));
    const int64_t n = neighbours.dim_size(0), k = neighbours.dim_size(1);
    OP_REQUIRES_OK(ctx, CheckShape(grad_out, TensorShape({batch, n, channels}), "grad_out"));
    Tensor* grad_values = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, values.shape(), &grad_values));
    const int32_t* nb = neighbours.flat<int32_t>().data();
    const auto index = cache_.Get(ctx, nb, n * k, {nodes, k}, [&](NodeEntries* entries) {
      BuildNodeEntries(nb, n, k, nodes, entries);
    });
    if (index == nullptr) return;
    const float* go = grad_out.flat<float>().data();
    const float* w = weights.flat<float>().data();
    float* gv = grad_values->flat<float>().data();
    const char* what = "upsample nodes gradient";
    RunUpsampleBlocks(ctx, batch, nodes, what, [&](int64_t b, int64_t begin, int64_t end) {
      UpsampleNodesGradCpu(go + b * n * channels, w, *index, channels, begin, end, gv + b * nodes * channels);
    });
  }

 private:
  IndexCache<NodeEntries> cache_;
};

REGISTER_KERNEL_BUILDER(Name("UpsampleNodes").Device(::tensorflow::DEVICE_CPU), UpsampleNodesOp);
REGISTER_KERNEL_BUILDER(Name("UpsampleNodesGrad").Device(::tensorflow::DEVICE_CPU), UpsampleNodesGradOp);

}  // namespace c3dmm
