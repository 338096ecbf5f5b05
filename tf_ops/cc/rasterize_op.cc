// TF kernels of RasterizeTriangles and RasterizeTrianglesGrad: validate the inputs, allocate the outputs
// and call the framework-free kernels (rasterize_cpu.h; rasterize_cuda.h when C3DMM_WITH_CUDA is
// defined). The CPU kernels run as (image, row band) units on TF's intra-op pool (op_common.h).
#include "tf_ops/cc/op_common.h"
#include "tf_ops/cc/rasterize_cpu.h"

namespace c3dmm {

template <typename Device>
class RasterizeTrianglesOp : public ::tensorflow::OpKernel {
 public:
  explicit RasterizeTrianglesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadImageSize(ctx, &height_, &width_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& clip_vertices = ctx->input(0);
    OP_REQUIRES_OK(ctx, CheckVertices(clip_vertices));
    OP_REQUIRES_OK(ctx, CheckTrianglesShape(ctx->input(1)));
    Tensor triangles;
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(1), 0, clip_vertices.dim_size(1),
                                             "triangles", &triangles));
    const int64_t batch = clip_vertices.dim_size(0);
    Tensor *triangle_ids = nullptr, *barycentrics = nullptr, *depth = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch, height_, width_}), &triangle_ids));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({batch, height_, width_, 3}), &barycentrics));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({batch, height_, width_}), &depth));
    Run(ctx, clip_vertices, triangles, triangle_ids, barycentrics, depth);
  }

 private:
  void Run(OpKernelContext* ctx, const Tensor& clip_vertices, const Tensor& triangles,
           Tensor* triangle_ids, Tensor* barycentrics, Tensor* depth);

  int height_ = 0, width_ = 0;
};

template <>
void RasterizeTrianglesOp<CpuTag>::Run(OpKernelContext* ctx, const Tensor& clip_vertices,
                                       const Tensor& triangles, Tensor* triangle_ids,
                                       Tensor* barycentrics, Tensor* depth) {
  const int32_t num_vertices = static_cast<int32_t>(clip_vertices.dim_size(1));
  const int32_t num_triangles = static_cast<int32_t>(triangles.dim_size(0));
  const int64_t pixels = int64_t{height_} * width_;
  const float* vertices_in = clip_vertices.flat<float>().data();
  const int32_t* vertex_indices = triangles.flat<int32_t>().data();
  int32_t* ids_out = triangle_ids->flat<int32_t>().data();
  float* barycentrics_out = barycentrics->flat<float>().data();
  float* depth_out = depth->flat<float>().data();
  const int height = height_, width = width_;
  const WorkSplit split = SplitWork(ctx, clip_vertices.dim_size(0), height);
  RunUnits(ctx, split.units(), "rasterize", [&](int64_t unit) {
    const int64_t image = split.image(unit);
    int64_t row_begin, row_end;
    split.Band(unit, height, &row_begin, &row_end);
    RasterizeBandCpu(vertices_in + image * num_vertices * 4, num_vertices, vertex_indices, num_triangles,
                     height, width, static_cast<int32_t>(row_begin), static_cast<int32_t>(row_end),
                     ids_out + image * pixels, barycentrics_out + image * pixels * 3,
                     depth_out + image * pixels);
  });
}

template <typename Device>
class RasterizeTrianglesGradOp : public ::tensorflow::OpKernel {
 public:
  explicit RasterizeTrianglesGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadImageSize(ctx, &height_, &width_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& clip_vertices = ctx->input(0);
    const Tensor& barycentrics = ctx->input(3);
    const Tensor& grad_barycentrics = ctx->input(4);
    OP_REQUIRES_OK(ctx, CheckVertices(clip_vertices));
    OP_REQUIRES_OK(ctx, CheckTrianglesShape(ctx->input(1)));
    const int64_t batch = clip_vertices.dim_size(0);
    OP_REQUIRES_OK(ctx, CheckShape(ctx->input(2), TensorShape({batch, height_, width_}), "triangle_ids"));
    OP_REQUIRES_OK(ctx, CheckShape(barycentrics, TensorShape({batch, height_, width_, 3}), "barycentrics"));
    OP_REQUIRES_OK(ctx, CheckShape(grad_barycentrics, TensorShape({batch, height_, width_, 3}),
                                   "grad_barycentrics"));
    Tensor triangles, triangle_ids;
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(1), 0, clip_vertices.dim_size(1),
                                             "triangles", &triangles));
    OP_REQUIRES_OK(ctx, Int32Indices<Device>(ctx, ctx->input(2), -1, triangles.dim_size(0),
                                             "triangle_ids", &triangle_ids));
    Tensor* grad_clip_vertices = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, clip_vertices.shape(), &grad_clip_vertices));
    Run(ctx, clip_vertices, triangles, triangle_ids, barycentrics, grad_barycentrics, grad_clip_vertices);
  }

 private:
  void Run(OpKernelContext* ctx, const Tensor& clip_vertices, const Tensor& triangles,
           const Tensor& triangle_ids, const Tensor& barycentrics, const Tensor& grad_barycentrics,
           Tensor* grad_clip_vertices);

  int height_ = 0, width_ = 0;
};

template <>
void RasterizeTrianglesGradOp<CpuTag>::Run(OpKernelContext* ctx, const Tensor& clip_vertices,
                                           const Tensor& triangles, const Tensor& triangle_ids,
                                           const Tensor& barycentrics, const Tensor& grad_barycentrics,
                                           Tensor* grad_clip_vertices) {
  const int64_t pixels = int64_t{height_} * width_;
  const int64_t vertex_floats = clip_vertices.dim_size(1) * 4;  // one image's vertices
  const float* vertices_in = clip_vertices.flat<float>().data();
  const int32_t* vertex_indices = triangles.flat<int32_t>().data();
  const int32_t* ids_in = triangle_ids.flat<int32_t>().data();
  const float* barycentrics_in = barycentrics.flat<float>().data();
  const float* grad_barycentrics_in = grad_barycentrics.flat<float>().data();
  const int height = height_, width = width_;
  const WorkSplit split = SplitWork(ctx, clip_vertices.dim_size(0), height);
  BandGradients grads(split, vertex_floats);
  OP_REQUIRES_OK(ctx, grads.Prepare(ctx, grad_clip_vertices->flat<float>().data()));
  RunUnits(ctx, split.units(), "rasterize gradient", [&](int64_t unit) {
    const int64_t image = split.image(unit);
    int64_t row_begin, row_end;
    split.Band(unit, height, &row_begin, &row_end);
    RasterizeGradBandCpu(vertices_in + image * vertex_floats, vertex_indices, ids_in + image * pixels,
                         barycentrics_in + image * pixels * 3, grad_barycentrics_in + image * pixels * 3,
                         height, width, static_cast<int32_t>(row_begin), static_cast<int32_t>(row_end),
                         grads.Target(unit));
  });
  grads.Reduce();
}

REGISTER_KERNEL_BUILDER(Name("RasterizeTriangles").Device(::tensorflow::DEVICE_CPU),
                        RasterizeTrianglesOp<CpuTag>);
REGISTER_KERNEL_BUILDER(Name("RasterizeTrianglesGrad").Device(::tensorflow::DEVICE_CPU),
                        RasterizeTrianglesGradOp<CpuTag>);

#ifdef C3DMM_WITH_CUDA
// CUDA: the same shape validation on the host; index ranges are handled by the kernels (int32 only:
// int64 indices are checked and narrowed by the CPU kernel, where TF then places the op).

template <>
void RasterizeTrianglesOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& clip_vertices,
                                       const Tensor& triangles, Tensor* triangle_ids,
                                       Tensor* barycentrics, Tensor* depth) {
  const int32_t batch = static_cast<int32_t>(clip_vertices.dim_size(0));
  const int32_t num_vertices = static_cast<int32_t>(clip_vertices.dim_size(1));
  Tensor scratch;
  const int64_t bytes = c3dmm_rasterize_scratch_bytes(batch, num_vertices, height_, width_);
  OP_REQUIRES_OK(ctx, ctx->allocate_temp(::tensorflow::DT_INT8, TensorShape({bytes}), &scratch));
  CheckLaunch(ctx,
              c3dmm_rasterize_cuda(GetStream(ctx), clip_vertices.flat<float>().data(), batch,
                                   num_vertices, triangles.flat<int32_t>().data(),
                                   static_cast<int32_t>(triangles.dim_size(0)), height_, width_,
                                   scratch.flat<int8_t>().data(), triangle_ids->flat<int32_t>().data(),
                                   barycentrics->flat<float>().data(), depth->flat<float>().data()),
              "rasterize");
}

template <>
void RasterizeTrianglesGradOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& clip_vertices,
                                           const Tensor& triangles, const Tensor& triangle_ids,
                                           const Tensor& barycentrics, const Tensor& grad_barycentrics,
                                           Tensor* grad_clip_vertices) {
  CheckLaunch(ctx,
              c3dmm_rasterize_grad_cuda(
                  GetStream(ctx), clip_vertices.flat<float>().data(),
                  static_cast<int32_t>(clip_vertices.dim_size(0)),
                  static_cast<int32_t>(clip_vertices.dim_size(1)), triangles.flat<int32_t>().data(),
                  static_cast<int32_t>(triangles.dim_size(0)), triangle_ids.flat<int32_t>().data(),
                  barycentrics.flat<float>().data(), grad_barycentrics.flat<float>().data(), height_,
                  width_, grad_clip_vertices->flat<float>().data()),
              "rasterize gradient");
}

REGISTER_KERNEL_BUILDER(Name("RasterizeTriangles")
                            .Device(::tensorflow::DEVICE_GPU)
                            .TypeConstraint<int32_t>("Tindices"),
                        RasterizeTrianglesOp<GpuTag>);
REGISTER_KERNEL_BUILDER(Name("RasterizeTrianglesGrad")
                            .Device(::tensorflow::DEVICE_GPU)
                            .TypeConstraint<int32_t>("Tindices")
                            .TypeConstraint<int32_t>("Tids"),
                        RasterizeTrianglesGradOp<GpuTag>);
#endif  // C3DMM_WITH_CUDA

}  // namespace c3dmm
