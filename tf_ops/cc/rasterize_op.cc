// Thin TensorFlow glue: validates inputs, allocates outputs and calls the framework-free kernels.
// CPU kernels split the work into (image, row band) units on TF's intra-op worker pool; CUDA kernels
// (compiled when C3DMM_WITH_CUDA is defined) run on the op's stream.
#include <algorithm>
#include <cstring>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/threadpool.h"
#include "tf_ops/cc/raster_common.h"
#include "tf_ops/cc/rasterize_cpu.h"

#ifdef C3DMM_WITH_CUDA
#include "tf_ops/cc/rasterize_cuda.h"
#include "xla/stream_executor/stream.h"
#endif

namespace c3dmm {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::errors::InvalidArgument;

// Device tags of the kernel templates (the kernels never use Eigen devices).
struct CpuTag {};
struct GpuTag {};

namespace {

// Work units of a CPU kernel: `images` images split into `bands` bands of rows each.
struct WorkSplit {
  int64_t images = 0;
  int64_t bands = 1;
  int64_t units() const { return images * bands; }
};

WorkSplit SplitWork(OpKernelContext* ctx, int64_t images, int64_t rows) {
  const int threads = ctx->device()->tensorflow_cpu_worker_threads()->num_threads;
  WorkSplit split;
  split.images = images;
  if (images > 0 && images < threads) split.bands = std::min<int64_t>((threads + images - 1) / images, rows);
  split.bands = std::max<int64_t>(split.bands, 1);
  return split;
}

// Runs fn(unit) for every unit, one unit per task, on the intra-op pool.
template <typename Fn>
void RunUnits(OpKernelContext* ctx, int64_t units, const Fn& fn) {
  if (units <= 0) return;
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  if (units == 1 || pool->NumThreads() <= 1) {
    for (int64_t u = 0; u < units; ++u) fn(u);
    return;
  }
  // A huge per-unit cost makes the pool schedule each unit as its own task.
  pool->ParallelFor(units, /*cost_per_unit=*/1 << 30, [&fn](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) fn(u);
  });
}

void BandRows(int64_t band, int64_t bands, int64_t rows, int32_t* begin, int32_t* end) {
  *begin = static_cast<int32_t>(band * rows / bands);
  *end = static_cast<int32_t>((band + 1) * rows / bands);
}

::tensorflow::Status ReadImageSize(OpKernelConstruction* ctx, int* height, int* width) {
  int64_t h, w;
  TF_RETURN_IF_ERROR(ctx->GetAttr("image_height", &h));
  TF_RETURN_IF_ERROR(ctx->GetAttr("image_width", &w));
  if (h < 1 || w < 1 || h > kMaxImageSize || w > kMaxImageSize) {
    return InvalidArgument("image size must be in [1, ", kMaxImageSize, "] per side, got ", h, "x", w);
  }
  *height = static_cast<int>(h);
  *width = static_cast<int>(w);
  return ::tensorflow::Status();
}

::tensorflow::Status CheckVertices(const Tensor& vertices) {
  if (vertices.dims() != 3 || vertices.dim_size(2) != 4) {
    return InvalidArgument("clip_vertices must have shape [B, V, 4], got ",
                           vertices.shape().DebugString());
  }
  if (vertices.dim_size(1) > (int64_t{1} << 30)) return InvalidArgument("too many vertices");
  return ::tensorflow::Status();
}

// Checks the shape of `triangles` and, on the host, that every index is in [0, num_vertices).
::tensorflow::Status CheckTriangles(const Tensor& triangles, int64_t num_vertices, bool host) {
  if (triangles.dims() != 2 || triangles.dim_size(1) != 3) {
    return InvalidArgument("triangles must have shape [T, 3], got ", triangles.shape().DebugString());
  }
  if (triangles.dim_size(0) > (int64_t{1} << 30)) return InvalidArgument("too many triangles");
  if (!host) return ::tensorflow::Status();
  const auto flat = triangles.flat<int32_t>();
  for (int64_t i = 0; i < flat.size(); ++i) {
    if (flat(i) < 0 || flat(i) >= num_vertices) {
      return InvalidArgument("triangle index ", flat(i), " at triangles[", i / 3, "] is outside [0, ",
                             num_vertices, ")");
    }
  }
  return ::tensorflow::Status();
}

// Checks triangle ids [B, H, W] (host only: values in [-1, T)).
::tensorflow::Status CheckIds(const Tensor& ids, int64_t batch, int64_t num_triangles, bool host) {
  if (ids.dims() != 3 || (batch >= 0 && ids.dim_size(0) != batch)) {
    return InvalidArgument("triangle_ids must have shape [B, H, W] matching the batch, got ",
                           ids.shape().DebugString());
  }
  if (!host) return ::tensorflow::Status();
  const auto flat = ids.flat<int32_t>();
  for (int64_t i = 0; i < flat.size(); ++i) {
    if (flat(i) < -1 || flat(i) >= num_triangles) {
      return InvalidArgument("triangle id ", flat(i), " is outside [-1, ", num_triangles, ")");
    }
  }
  return ::tensorflow::Status();
}

::tensorflow::Status CheckSameShape(const Tensor& a, const TensorShape& expected, const char* name) {
  if (a.shape() != expected) {
    return InvalidArgument(name, " must have shape ", expected.DebugString(), ", got ",
                           a.shape().DebugString());
  }
  return ::tensorflow::Status();
}

}  // namespace

// ----------------------------------------------------------------------------------------------------
// RasterizeTriangles

template <typename Device>
class RasterizeTrianglesOp : public OpKernel {
 public:
  explicit RasterizeTrianglesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadImageSize(ctx, &height_, &width_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& vertices = ctx->input(0);
    const Tensor& triangles = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckVertices(vertices));
    OP_REQUIRES_OK(ctx, CheckTriangles(triangles, vertices.dim_size(1), kOnHost));
    const int64_t batch = vertices.dim_size(0);
    Tensor *ids = nullptr, *bary = nullptr, *depth = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch, height_, width_}), &ids));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({batch, height_, width_, 3}), &bary));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({batch, height_, width_}), &depth));
    Run(ctx, vertices, triangles, ids, bary, depth);
  }

 private:
  static constexpr bool kOnHost = std::is_same<Device, CpuTag>::value;

  void Run(OpKernelContext* ctx, const Tensor& vertices, const Tensor& triangles, Tensor* ids,
           Tensor* bary, Tensor* depth);

  int height_ = 0, width_ = 0;
};

template <>
void RasterizeTrianglesOp<CpuTag>::Run(OpKernelContext* ctx, const Tensor& vertices,
                                                        const Tensor& triangles, Tensor* ids,
                                                        Tensor* bary, Tensor* depth) {
  const int64_t num_vertices = vertices.dim_size(1), num_triangles = triangles.dim_size(0);
  const WorkSplit split = SplitWork(ctx, vertices.dim_size(0), height_);
  const int64_t pixels = static_cast<int64_t>(height_) * width_;
  const float* v = vertices.flat<float>().data();
  const int32_t* tri = triangles.flat<int32_t>().data();
  int32_t* ids_out = ids->flat<int32_t>().data();
  float* bary_out = bary->flat<float>().data();
  float* depth_out = depth->flat<float>().data();
  const int height = height_, width = width_;
  RunUnits(ctx, split.units(), [&](int64_t unit) {
    const int64_t b = unit / split.bands;
    int32_t row_begin, row_end;
    BandRows(unit % split.bands, split.bands, height, &row_begin, &row_end);
    RasterizeBandCpu(v + b * num_vertices * 4, static_cast<int32_t>(num_vertices), tri,
                     static_cast<int32_t>(num_triangles), height, width, row_begin, row_end,
                     ids_out + b * pixels, bary_out + b * pixels * 3, depth_out + b * pixels);
  });
}

// ----------------------------------------------------------------------------------------------------
// RasterizeTrianglesGrad

template <typename Device>
class RasterizeTrianglesGradOp : public OpKernel {
 public:
  explicit RasterizeTrianglesGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadImageSize(ctx, &height_, &width_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& vertices = ctx->input(0);
    const Tensor& triangles = ctx->input(1);
    const Tensor& ids = ctx->input(2);
    const Tensor& bary = ctx->input(3);
    const Tensor& grad_bary = ctx->input(4);
    OP_REQUIRES_OK(ctx, CheckVertices(vertices));
    OP_REQUIRES_OK(ctx, CheckTriangles(triangles, vertices.dim_size(1), kOnHost));
    const int64_t batch = vertices.dim_size(0);
    OP_REQUIRES_OK(ctx, CheckSameShape(ids, TensorShape({batch, height_, width_}), "triangle_ids"));
    OP_REQUIRES_OK(ctx, CheckIds(ids, batch, triangles.dim_size(0), kOnHost));
    OP_REQUIRES_OK(ctx, CheckSameShape(bary, TensorShape({batch, height_, width_, 3}),
                                       "barycentrics"));
    OP_REQUIRES_OK(ctx, CheckSameShape(grad_bary, TensorShape({batch, height_, width_, 3}),
                                       "grad_barycentrics"));
    Tensor* grad = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, vertices.shape(), &grad));
    Run(ctx, vertices, triangles, ids, bary, grad_bary, grad);
  }

 private:
  static constexpr bool kOnHost = std::is_same<Device, CpuTag>::value;

  void Run(OpKernelContext* ctx, const Tensor& vertices, const Tensor& triangles, const Tensor& ids,
           const Tensor& bary, const Tensor& grad_bary, Tensor* grad);

  int height_ = 0, width_ = 0;
};

template <>
void RasterizeTrianglesGradOp<CpuTag>::Run(OpKernelContext* ctx,
                                                            const Tensor& vertices,
                                                            const Tensor& triangles,
                                                            const Tensor& ids,
                                                            const Tensor& bary,
                                                            const Tensor& grad_bary, Tensor* grad) {
  const int64_t num_vertices = vertices.dim_size(1);
  const WorkSplit split = SplitWork(ctx, vertices.dim_size(0), height_);
  const int64_t pixels = static_cast<int64_t>(height_) * width_;
  const int64_t stride = num_vertices * 4;
  const float* v = vertices.flat<float>().data();
  const int32_t* tri = triangles.flat<int32_t>().data();
  const int32_t* id = ids.flat<int32_t>().data();
  const float* ba = bary.flat<float>().data();
  const float* gb = grad_bary.flat<float>().data();
  float* out = grad->flat<float>().data();
  std::memset(out, 0, sizeof(float) * grad->NumElements());
  // Images own disjoint vertex slices; bands of one image accumulate into private buffers that are
  // summed afterwards, so no two threads ever write the same float (race-free, deterministic).
  std::vector<float> partial(split.bands > 1 ? split.units() * stride : 0, 0.0f);
  const int height = height_, width = width_;
  RunUnits(ctx, split.units(), [&](int64_t unit) {
    const int64_t b = unit / split.bands;
    int32_t row_begin, row_end;
    BandRows(unit % split.bands, split.bands, height, &row_begin, &row_end);
    float* target = split.bands > 1 ? partial.data() + unit * stride : out + b * stride;
    RasterizeGradBandCpu(v + b * stride, tri, id + b * pixels, ba + b * pixels * 3,
                         gb + b * pixels * 3, height, width, row_begin, row_end, target);
  });
  if (split.bands > 1) {
    for (int64_t unit = 0; unit < split.units(); ++unit) {
      float* target = out + (unit / split.bands) * stride;
      const float* src = partial.data() + unit * stride;
      for (int64_t i = 0; i < stride; ++i) target[i] += src[i];
    }
  }
}

// ----------------------------------------------------------------------------------------------------
// InterpolateAttributes (+ gradient)

namespace {

::tensorflow::Status CheckInterpolateInputs(const Tensor& attributes, const Tensor& ids,
                                            const Tensor& bary, const Tensor& triangles, bool host) {
  if (attributes.dims() != 3) {
    return InvalidArgument("attributes must have shape [B, V, C], got ",
                           attributes.shape().DebugString());
  }
  TF_RETURN_IF_ERROR(CheckTriangles(triangles, attributes.dim_size(1), host));
  TF_RETURN_IF_ERROR(CheckIds(ids, attributes.dim_size(0), triangles.dim_size(0), host));
  TensorShape bary_shape = ids.shape();
  bary_shape.AddDim(3);
  return CheckSameShape(bary, bary_shape, "barycentrics");
}

}  // namespace

template <typename Device>
class InterpolateAttributesOp : public OpKernel {
 public:
  explicit InterpolateAttributesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& attributes = ctx->input(0);
    const Tensor& ids = ctx->input(1);
    const Tensor& bary = ctx->input(2);
    const Tensor& triangles = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckInterpolateInputs(attributes, ids, bary, triangles, kOnHost));
    TensorShape out_shape = ids.shape();
    out_shape.AddDim(attributes.dim_size(2));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    Run(ctx, attributes, ids, bary, triangles, out);
  }

 private:
  static constexpr bool kOnHost = std::is_same<Device, CpuTag>::value;
  void Run(OpKernelContext* ctx, const Tensor& attributes, const Tensor& ids, const Tensor& bary,
           const Tensor& triangles, Tensor* out);
};

template <>
void InterpolateAttributesOp<CpuTag>::Run(OpKernelContext* ctx,
                                                           const Tensor& attributes,
                                                           const Tensor& ids, const Tensor& bary,
                                                           const Tensor& triangles, Tensor* out) {
  const int64_t batch = ids.dim_size(0), pixels = ids.dim_size(1) * ids.dim_size(2);
  const int64_t num_vertices = attributes.dim_size(1);
  const int32_t channels = static_cast<int32_t>(attributes.dim_size(2));
  const WorkSplit split = SplitWork(ctx, batch, std::max<int64_t>(pixels, 1));
  const float* a = attributes.flat<float>().data();
  const int32_t* tri = triangles.flat<int32_t>().data();
  const int32_t* id = ids.flat<int32_t>().data();
  const float* b = bary.flat<float>().data();
  float* o = out->flat<float>().data();
  RunUnits(ctx, split.units(), [&](int64_t unit) {
    const int64_t image = unit / split.bands, band = unit % split.bands;
    InterpolateCpu(a + image * num_vertices * channels, channels, tri, id + image * pixels,
                   b + image * pixels * 3, band * pixels / split.bands,
                   (band + 1) * pixels / split.bands, o + image * pixels * channels);
  });
}

template <typename Device>
class InterpolateAttributesGradOp : public OpKernel {
 public:
  explicit InterpolateAttributesGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& attributes = ctx->input(0);
    const Tensor& ids = ctx->input(1);
    const Tensor& bary = ctx->input(2);
    const Tensor& triangles = ctx->input(3);
    const Tensor& grad_out = ctx->input(4);
    OP_REQUIRES_OK(ctx, CheckInterpolateInputs(attributes, ids, bary, triangles, kOnHost));
    TensorShape out_shape = ids.shape();
    out_shape.AddDim(attributes.dim_size(2));
    OP_REQUIRES_OK(ctx, CheckSameShape(grad_out, out_shape, "grad_interpolated"));
    Tensor *grad_attributes = nullptr, *grad_bary = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, attributes.shape(), &grad_attributes));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, bary.shape(), &grad_bary));
    Run(ctx, attributes, ids, bary, triangles, grad_out, grad_attributes, grad_bary);
  }

 private:
  static constexpr bool kOnHost = std::is_same<Device, CpuTag>::value;
  void Run(OpKernelContext* ctx, const Tensor& attributes, const Tensor& ids, const Tensor& bary,
           const Tensor& triangles, const Tensor& grad_out, Tensor* grad_attributes,
           Tensor* grad_bary);
};

template <>
void InterpolateAttributesGradOp<CpuTag>::Run(
    OpKernelContext* ctx, const Tensor& attributes, const Tensor& ids, const Tensor& bary,
    const Tensor& triangles, const Tensor& grad_out, Tensor* grad_attributes, Tensor* grad_bary) {
  const int64_t batch = ids.dim_size(0), pixels = ids.dim_size(1) * ids.dim_size(2);
  const int32_t channels = static_cast<int32_t>(attributes.dim_size(2));
  const int64_t stride = attributes.dim_size(1) * channels;
  const WorkSplit split = SplitWork(ctx, batch, std::max<int64_t>(pixels, 1));
  const float* a = attributes.flat<float>().data();
  const int32_t* tri = triangles.flat<int32_t>().data();
  const int32_t* id = ids.flat<int32_t>().data();
  const float* b = bary.flat<float>().data();
  const float* g = grad_out.flat<float>().data();
  float* ga = grad_attributes->flat<float>().data();
  float* gb = grad_bary->flat<float>().data();
  std::memset(ga, 0, sizeof(float) * grad_attributes->NumElements());
  std::vector<float> partial(split.bands > 1 ? split.units() * stride : 0, 0.0f);
  RunUnits(ctx, split.units(), [&](int64_t unit) {
    const int64_t image = unit / split.bands, band = unit % split.bands;
    float* target = split.bands > 1 ? partial.data() + unit * stride : ga + image * stride;
    InterpolateGradCpu(a + image * stride, channels, tri, id + image * pixels,
                       b + image * pixels * 3, g + image * pixels * channels,
                       band * pixels / split.bands, (band + 1) * pixels / split.bands, target,
                       gb + image * pixels * 3);
  });
  if (split.bands > 1) {
    for (int64_t unit = 0; unit < split.units(); ++unit) {
      float* target = ga + (unit / split.bands) * stride;
      const float* src = partial.data() + unit * stride;
      for (int64_t i = 0; i < stride; ++i) target[i] += src[i];
    }
  }
}

REGISTER_KERNEL_BUILDER(Name("RasterizeTriangles").Device(DEVICE_CPU),
                        RasterizeTrianglesOp<CpuTag>);
REGISTER_KERNEL_BUILDER(Name("RasterizeTrianglesGrad").Device(DEVICE_CPU),
                        RasterizeTrianglesGradOp<CpuTag>);
REGISTER_KERNEL_BUILDER(Name("InterpolateAttributes").Device(DEVICE_CPU),
                        InterpolateAttributesOp<CpuTag>);
REGISTER_KERNEL_BUILDER(Name("InterpolateAttributesGrad").Device(DEVICE_CPU),
                        InterpolateAttributesGradOp<CpuTag>);

#ifdef C3DMM_WITH_CUDA
// ----------------------------------------------------------------------------------------------------
// CUDA kernels: the same validation of shapes on the host; index ranges are handled by the kernels.

namespace {

c3dmm_stream_t GetStream(OpKernelContext* ctx) {
  return reinterpret_cast<c3dmm_stream_t>(
      ctx->op_device_context()->stream()->platform_specific_handle().stream);
}

void CheckLaunch(OpKernelContext* ctx, int code, const char* what) {
  if (code != 0) ctx->SetStatus(::tensorflow::errors::Internal(what, " failed: CUDA error ", code));
}

}  // namespace

template <>
void RasterizeTrianglesOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& vertices,
                                       const Tensor& triangles, Tensor* ids, Tensor* bary,
                                       Tensor* depth) {
  const int32_t batch = static_cast<int32_t>(vertices.dim_size(0));
  const int32_t num_vertices = static_cast<int32_t>(vertices.dim_size(1));
  Tensor scratch;
  const int64_t bytes = c3dmm_rasterize_scratch_bytes(batch, num_vertices, height_, width_);
  OP_REQUIRES_OK(ctx, ctx->allocate_temp(::tensorflow::DT_INT8, TensorShape({bytes}), &scratch));
  CheckLaunch(ctx,
              c3dmm_rasterize_cuda(GetStream(ctx), vertices.flat<float>().data(), batch,
                                   num_vertices, triangles.flat<int32_t>().data(),
                                   static_cast<int32_t>(triangles.dim_size(0)), height_, width_,
                                   scratch.flat<int8_t>().data(), ids->flat<int32_t>().data(),
                                   bary->flat<float>().data(), depth->flat<float>().data()),
              "rasterize");
}

template <>
void RasterizeTrianglesGradOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& vertices,
                                           const Tensor& triangles, const Tensor& ids,
                                           const Tensor& bary, const Tensor& grad_bary,
                                           Tensor* grad) {
  CheckLaunch(ctx,
              c3dmm_rasterize_grad_cuda(
                  GetStream(ctx), vertices.flat<float>().data(),
                  static_cast<int32_t>(vertices.dim_size(0)),
                  static_cast<int32_t>(vertices.dim_size(1)), triangles.flat<int32_t>().data(),
                  static_cast<int32_t>(triangles.dim_size(0)), ids.flat<int32_t>().data(),
                  bary.flat<float>().data(), grad_bary.flat<float>().data(), height_, width_,
                  grad->flat<float>().data()),
              "rasterize gradient");
}

template <>
void InterpolateAttributesOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& attributes,
                                          const Tensor& ids, const Tensor& bary,
                                          const Tensor& triangles, Tensor* out) {
  CheckLaunch(ctx,
              c3dmm_interpolate_cuda(GetStream(ctx), attributes.flat<float>().data(),
                                     static_cast<int32_t>(attributes.dim_size(0)),
                                     static_cast<int32_t>(attributes.dim_size(1)),
                                     static_cast<int32_t>(attributes.dim_size(2)),
                                     triangles.flat<int32_t>().data(),
                                     static_cast<int32_t>(triangles.dim_size(0)),
                                     ids.flat<int32_t>().data(), bary.flat<float>().data(),
                                     ids.dim_size(1) * ids.dim_size(2), out->flat<float>().data()),
              "interpolate");
}

template <>
void InterpolateAttributesGradOp<GpuTag>::Run(OpKernelContext* ctx, const Tensor& attributes,
                                              const Tensor& ids, const Tensor& bary,
                                              const Tensor& triangles, const Tensor& grad_out,
                                              Tensor* grad_attributes, Tensor* grad_bary) {
  CheckLaunch(ctx,
              c3dmm_interpolate_grad_cuda(
                  GetStream(ctx), attributes.flat<float>().data(),
                  static_cast<int32_t>(attributes.dim_size(0)),
                  static_cast<int32_t>(attributes.dim_size(1)),
                  static_cast<int32_t>(attributes.dim_size(2)), triangles.flat<int32_t>().data(),
                  static_cast<int32_t>(triangles.dim_size(0)), ids.flat<int32_t>().data(),
                  bary.flat<float>().data(), grad_out.flat<float>().data(),
                  ids.dim_size(1) * ids.dim_size(2), grad_attributes->flat<float>().data(),
                  grad_bary->flat<float>().data()),
              "interpolate gradient");
}

REGISTER_KERNEL_BUILDER(Name("RasterizeTriangles").Device(::tensorflow::DEVICE_GPU),
                        RasterizeTrianglesOp<GpuTag>);
REGISTER_KERNEL_BUILDER(Name("RasterizeTrianglesGrad").Device(::tensorflow::DEVICE_GPU),
                        RasterizeTrianglesGradOp<GpuTag>);
REGISTER_KERNEL_BUILDER(Name("InterpolateAttributes").Device(::tensorflow::DEVICE_GPU),
                        InterpolateAttributesOp<GpuTag>);
REGISTER_KERNEL_BUILDER(Name("InterpolateAttributesGrad").Device(::tensorflow::DEVICE_GPU),
                        InterpolateAttributesGradOp<GpuTag>);
#endif  // C3DMM_WITH_CUDA

}  // namespace c3dmm
