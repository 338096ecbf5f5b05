// TF kernels of InterpolateAttributes and InterpolateAttributesGrad: validate the inputs, allocate the
// outputs and call the framework-free kernels (rasterize_cpu.h; rasterize_cuda.h when C3DMM_WITH_CUDA is
// defined). The CPU kernels run as (image, pixel band) units on TF's intra-op pool (op_common.h).
#include "tf_ops/cc/op_common.h"
#include "tf_ops/cc/rasterize_cpu.h"

namespace c3dmm {

namespace {

// Shapes shared by the forward and the gradient: attributes [B, V, C], triangle_ids [B, H, W],
// barycentrics [B, H, W, 3], triangles [T, 3]; C and B fit int32 (the kernels' types).
Status CheckInterpolateShapes(const Tensor& attributes, const Tensor& triangle_ids,
                              const Tensor& barycentrics, const Tensor& triangles) {
  if (attributes.dims() != 3) {
    return InvalidArgument("attributes must have shape [B, V, C], got ", attributes.shape().DebugString());
  }
  if (attributes.dim_size(0) > kMaxInt32 || attributes.dim_size(1) > kMaxElements ||
      attributes.dim_size(2) > kMaxInt32) {
    return InvalidArgument("attributes ", attributes.shape().DebugString(), ": at most ", kMaxInt32,
                           " images of ", kMaxElements, " vertices of ", kMaxInt32, " channels");
  }
  TF_RETURN_IF_ERROR(CheckTrianglesShape(triangles));
  TF_RETURN_IF_ERROR(CheckIdsShape(triangle_ids, attributes.dim_size(0)));
  TensorShape barycentrics_shape = triangle_ids.shape();
  barycentrics_shape.AddDim(3);
  return CheckShape(barycentrics, barycentrics_shape, "barycentrics");
}

// [B, H, W, C]: the shape of the interpolated image (and of its gradient).
Status InterpolatedShape(const Tensor& attributes, const Tensor& triangle_ids, TensorShape* shape) {
  *shape = triangle_ids.shape();
  return shape->AddDimWithStatus(attributes.dim_size(2));  // fails when the element count overflows
}

}  // namespace

template <typename Device>
class InterpolateAttributesOp : public ::tensorflow::OpKernel {
 public:
  explicit InterpolateAttributesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& attributes = ctx->input(0);
    const Tensor& barycentrics = ctx->input(2);
    OP_REQUIRES_OK(ctx, CheckInterpolateShapes(attributes, ctx->input(1), barycentrics, ctx->input(3)));
    Tensor triangles, triangle_ids;
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(3), 0, attributes.dim_size(1), "triangles",
                                             &triangles));
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(1), -1, triangles.dim_size(0),
                                             "triangle_ids", &triangle_ids));
    TensorShape interpolated_shape;
    OP_REQUIRES_OK(ctx, InterpolatedShape(attributes, triangle_ids, &interpolated_shape));
    Tensor* interpolated = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, interpolated_shape, &interpolated));
    Run(ctx, attributes, triangle_ids, barycentrics, triangles, interpolated);
  }

 private:
  void Run(OpKernelContext* ctx, const Tensor& attributes, const Tensor& triangle_ids,
           const Tensor& barycentrics, const Tensor& triangles, Tensor* interpolated);
};

template <>
void InterpolateAttributesOp<CpuTag>::Run(OpKernelContext* ctx, const Tensor& attributes,
                                          const Tensor& triangle_ids, const Tensor& barycentrics,
                                          const Tensor& triangles, Tensor* interpolated) {
  const int64_t pixels = triangle_ids.dim_size(1) * triangle_ids.dim_size(2);
  const int32_t channels = static_cast<int32_t>(attributes.dim_size(2));
  const int64_t attribute_floats = attributes.dim_size(1) * channels;  // one image's attributes
  const float* attributes_in = attributes.flat<float>().data();
  const int32_t* vertex_indices = triangles.flat<int32_t>().data();
  const int32_t* ids_in = triangle_ids.flat<int32_t>().data();
  const float* barycentrics_in = barycentrics.flat<float>().data();
  float* interpolated_out = interpolated->flat<float>().data();
  const WorkSplit split = SplitWork(ctx, triangle_ids.dim_size(0), std::max<int64_t>(pixels, 1));
  RunUnits(ctx, split.units(), "interpolate", [&](int64_t unit) {
    const int64_t image = split.image(unit);
    int64_t pixel_begin, pixel_end;
    split.Band(unit, pixels, &pixel_begin, &pixel_end);
    InterpolateCpu(attributes_in + image * attribute_floats, channels, vertex_indices,
                   ids_in + image * pixels, barycentrics_in + image * pixels * 3, pixel_begin, pixel_end,
                   interpolated_out + image * pixels * channels);
  });
}

template <typename Device>
class InterpolateAttributesGradOp : public ::tensorflow::OpKernel {
 public:
  explicit InterpolateAttributesGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& attributes = ctx->input(0);
    const Tensor& barycentrics = ctx->input(2);
    const Tensor& grad_interpolated = ctx->input(4);
    OP_REQUIRES_OK(ctx, CheckInterpolateShapes(attributes, ctx->input(1), barycentrics, ctx->input(3)));
    TensorShape interpolated_shape;
    OP_REQUIRES_OK(ctx, InterpolatedShape(attributes, ctx->input(1), &interpolated_shape));
    OP_REQUIRES_OK(ctx, CheckShape(grad_interpolated, interpolated_shape, "grad_interpolated"));
    Tensor triangles, triangle_ids;
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(3), 0, attributes.dim_size(1), "triangles",
                                             &triangles));
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(1), -1, triangles.dim_size(0),
                                             "triangle_ids", &triangle_ids));
    Tensor *grad_attributes = nullptr, *grad_barycentrics = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, attributes.shape(), &grad_attributes));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, barycentrics.shape(), &grad_barycentrics));
    Run(ctx, attributes, triangle_ids, barycentrics, triangles, grad_interpolated, grad_attributes,
        grad_barycentrics);
  }

 private:
  void Run(OpKernelContext* ctx, const Tensor& attributes, const Tensor& triangle_ids,
           const Tensor& barycentrics, const Tensor& triangles, const Tensor& grad_interpolated,
           Tensor* grad_attributes, Tensor* grad_barycentrics);
};

template <>
void InterpolateAttributesGradOp<CpuTag>::Run(OpKernelContext* ctx, const Tensor& attributes,
                                              const Tensor& triangle_ids, const Tensor& barycentrics,
                                              const Tensor& triangles, const Tensor& grad_interpolated,
                                              Tensor* grad_attributes, Tensor* grad_barycentrics) {
  const int64_t pixels = triangle_ids.dim_size(1) * triangle_ids.dim_size(2);
  const int32_t channels = static_cast<int32_t>(attributes.dim_size(2));
  const int64_t attribute_floats = attributes.dim_size(1) * channels;  // one image's attributes
  const float* attributes_in = attributes.flat<float>().data();
  const int32_t* vertex_indices = triangles.flat<int32_t>().data();
  const int32_t* ids_in = triangle_ids.flat<int32_t>().data();
  const float* barycentrics_in = barycentrics.flat<float>().data();
  const float* grad_interpolated_in = grad_interpolated.flat<float>().data();
  float* grad_barycentrics_out = grad_barycentrics->flat<float>().data();
  const WorkSplit split = SplitWork(ctx, triangle_ids.dim_size(0), std::max<int64_t>(pixels, 1));
  BandGradients grads(split, attribute_floats);
  OP_REQUIRES_OK(ctx, grads.Prepare(ctx, grad_attributes->flat<float>().data()));
  RunUnits(ctx, split.units(), "interpolate gradient", [&](int64_t unit) {
    const int64_t image = split.image(unit);
    int64_t pixel_begin, pixel_end;
    split.Band(unit, pixels, &pixel_begin, &pixel_end);
    InterpolateGradCpu(attributes_in + image * attribute_floats, channels, vertex_indices,
                       ids_in + image * pixels, barycentrics_in + image * pixels * 3,
                       grad_interpolated_in + image * pixels * channels, pixel_begin, pixel_end,
                       grads.Target(unit), grad_barycentrics_out + image * pixels * 3);
  });
  grads.Reduce();
}

REGISTER_KERNEL_BUILDER(Name("InterpolateAttributes").Device(::tensorflow::DEVICE_CPU),
                        InterpolateAttributesOp<CpuTag>);
REGISTER_KERNEL_BUILDER(Name("InterpolateAttributesGrad").Device(::tensorflow::DEVICE_CPU),
                        InterpolateAttributesGradOp<CpuTag>);

#ifdef C3DMM_WITH_CUDA
// CUDA: the same shape validation on the host; index ranges are handled by the kernels (int32 only:
// int64 indices are checked and narrowed by the CPU kernel, where TF then places the op).

template <>
void InterpolateAttributesOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& attributes,
                                          const Tensor& triangle_ids, const Tensor& barycentrics,
                                          const Tensor& triangles, Tensor* interpolated) {
  CheckLaunch(ctx,
              c3dmm_interpolate_cuda(GetStream(ctx), attributes.flat<float>().data(),
                                     static_cast<int32_t>(attributes.dim_size(0)),
                                     static_cast<int32_t>(attributes.dim_size(1)),
                                     static_cast<int32_t>(attributes.dim_size(2)),
                                     triangles.flat<int32_t>().data(),
                                     static_cast<int32_t>(triangles.dim_size(0)),
                                     triangle_ids.flat<int32_t>().data(), barycentrics.flat<float>().data(),
                                     triangle_ids.dim_size(1) * triangle_ids.dim_size(2),
                                     interpolated->flat<float>().data()),
              "interpolate");
}

template <>
void InterpolateAttributesGradOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& attributes,
                                              const Tensor& triangle_ids, const Tensor& barycentrics,
                                              const Tensor& triangles, const Tensor& grad_interpolated,
                                              Tensor* grad_attributes, Tensor* grad_barycentrics) {
  CheckLaunch(ctx,
              c3dmm_interpolate_grad_cuda(
                  GetStream(ctx), attributes.flat<float>().data(),
                  static_cast<int32_t>(attributes.dim_size(0)),
                  static_cast<int32_t>(attributes.dim_size(1)),
                  static_cast<int32_t>(attributes.dim_size(2)), triangles.flat<int32_t>().data(),
                  static_cast<int32_t>(triangles.dim_size(0)), triangle_ids.flat<int32_t>().data(),
                  barycentrics.flat<float>().data(), grad_interpolated.flat<float>().data(),
                  triangle_ids.dim_size(1) * triangle_ids.dim_size(2),
                  grad_attributes->flat<float>().data(), grad_barycentrics->flat<float>().data()),
              "interpolate gradient");
}

REGISTER_KERNEL_BUILDER(Name("InterpolateAttributes")
                            .Device(::tensorflow::DEVICE_GPU)
                            .TypeConstraint<int32_t>("Tindices")
                            .TypeConstraint<int32_t>("Tids"),
                        InterpolateAttributesOp<GpuTag>);
REGISTER_KERNEL_BUILDER(Name("InterpolateAttributesGrad")
                            .Device(::tensorflow::DEVICE_GPU)
                            .TypeConstraint<int32_t>("Tindices")
                            .TypeConstraint<int32_t>("Tids"),
                        InterpolateAttributesGradOp<GpuTag>);
#endif  // C3DMM_WITH_CUDA

}  // namespace c3dmm
