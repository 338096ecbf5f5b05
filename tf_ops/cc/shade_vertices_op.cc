// TF kernels of ShadeVertices and ShadeVerticesGrad (CPU): validate the inputs, allocate the outputs and
// run the framework-free phases of shade_vertices_cpu.h as (image, block) units on TF's intra-op pool.
#include <vector>

#include "tf_ops/cc/op_common.h"
#include "tf_ops/cc/shade_vertices_cpu.h"

namespace c3dmm {

namespace {

// Inputs 0-6, shared by the forward and the gradient: vertices [B, N, 3], albedo [B, N, 3],
// rotation [B, 3, 3], translation [B, 3], sh [B, 9, 3], triangles [T, 3], clip_transform [4, 4].
Status CheckShadeInputs(OpKernelContext* ctx) {
  const Tensor& vertices = ctx->input(0);
  if (vertices.dims() != 3 || vertices.dim_size(2) != 3) {
    return InvalidArgument("vertices must have shape [B, N, 3], got ", vertices.shape().DebugString());
  }
  if (vertices.dim_size(1) > kMaxElements) {
    return InvalidArgument("vertices ", vertices.shape().DebugString(), ": at most ", kMaxElements,
                           " vertices");
  }
  const int64_t batch = vertices.dim_size(0);
  TF_RETURN_IF_ERROR(CheckShape(ctx->input(1), vertices.shape(), "albedo"));
  TF_RETURN_IF_ERROR(CheckShape(ctx->input(2), TensorShape({batch, 3, 3}), "rotation"));
  TF_RETURN_IF_ERROR(CheckShape(ctx->input(3), TensorShape({batch, 3}), "translation"));
  TF_RETURN_IF_ERROR(CheckShape(ctx->input(4), TensorShape({batch, kShCoefficients, 3}), "sh"));
  TF_RETURN_IF_ERROR(CheckTrianglesShape(ctx->input(5)));
  return CheckShape(ctx->input(6), TensorShape({4, 4}), "clip_transform");
}

Status ReadEps(OpKernelConstruction* ctx, float* eps) {
  TF_RETURN_IF_ERROR(ctx->GetAttr("normal_eps", eps));
  if (!(*eps > 0.0f) || !std::isfinite(*eps)) {
    return InvalidArgument("normal_eps must be a positive finite number, got ", *eps);
  }
  return Status();
}

ShadeImage Image(OpKernelContext* ctx, int64_t b, int64_t n) {
  return ShadeImage{ctx->input(0).flat<float>().data() + b * n * 3,
                    ctx->input(1).flat<float>().data() + b * n * 3,
                    ctx->input(2).flat<float>().data() + b * 9,
                    ctx->input(3).flat<float>().data() + b * 3,
                    ctx->input(4).flat<float>().data() + b * kShCoefficients * 3,
                    ctx->input(6).flat<float>().data()};
}

int64_t Blocks(int64_t count) { return (count + kShadingBlock - 1) / kShadingBlock; }

// Runs fn(image, begin, end, unit) over B images x blocks of `count` elements.
template <typename Fn>
void RunBlocks(OpKernelContext* ctx, int64_t batch, int64_t count, const char* what, const Fn& fn) {
  const int64_t blocks = Blocks(count);
  RunBlocksGrouped(ctx, batch * blocks, what, [&](int64_t unit) {
    const int64_t block = unit % blocks;
    fn(unit / blocks, block * kShadingBlock, std::min(count, (block + 1) * kShadingBlock), unit);
  });
}

}  // namespace

class ShadeVerticesOp : public ::tensorflow::OpKernel {
 public:
  explicit ShadeVerticesOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadEps(ctx, &eps_));
  }

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES_OK(ctx, CheckShadeInputs(ctx));
    const Tensor& vertices = ctx->input(0);
    const int64_t batch = vertices.dim_size(0), n = vertices.dim_size(1);
    Tensor triangles;
    OP_REQUIRES_OK(ctx, Int32Indices<CpuTag>(ctx, ctx->input(5), 0, n, "triangles", &triangles));
    const int64_t num_triangles = triangles.dim_size(0);
    const int32_t* tri = triangles.flat<int32_t>().data();
    Tensor* outputs[5];
    for (int k = 0; k < 4; ++k) OP_REQUIRES_OK(ctx, ctx->allocate_output(k, vertices.shape(), &outputs[k]));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(4, TensorShape({batch, n, 4}), &outputs[4]));
    Tensor face_normals;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(::tensorflow::DT_FLOAT, TensorShape({batch, num_triangles, 3}),
                                           &face_normals));
    const auto cached = cache_.Get(ctx, tri, 3 * num_triangles, {n, 0}, [&](VertexCorners* incidence) {
      BuildVertexCorners(tri, num_triangles, n, incidence);
    });
    if (cached == nullptr) return;
    const VertexCorners& incidence = *cached;
    float* cam = outputs[0]->flat<float>().data();
    float* faces = face_normals.flat<float>().data();
    const char* what = "shade vertices";
    RunBlocks(ctx, batch, n, what, [&](int64_t b, int64_t begin, int64_t end, int64_t) {
      ShadeTransformCpu(Image(ctx, b, n), begin, end, cam + b * n * 3,
                        outputs[4]->flat<float>().data() + b * n * 4);
    });
    RunBlocks(ctx, batch, num_triangles, what, [&](int64_t b, int64_t begin, int64_t end, int64_t) {
      FaceNormalsCpu(cam + b * n * 3, tri, begin, end, faces + b * num_triangles * 3);
    });
    RunBlocks(ctx, batch, n, what, [&](int64_t b, int64_t begin, int64_t end, int64_t) {
      const int64_t offset = b * n * 3;
      ShadeNormalsCpu(Image(ctx, b, n), incidence, faces + b * num_triangles * 3, eps_, begin, end,
                      outputs[1]->flat<float>().data() + offset, outputs[2]->flat<float>().data() + offset,
                      outputs[3]->flat<float>().data() + offset);
    });
  }

 private:
  float eps_;
  IndexCache<VertexCorners> cache_;
};

// Inputs 7, 8: the forward's camera_vertices and irradiance; 9-13: the upstream gradients of
// camera_vertices, normals, irradiance, colors and clip.
class ShadeVerticesGradOp : public ::tensorflow::OpKernel {
 public:
  explicit ShadeVerticesGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ReadEps(ctx, &eps_));
  }

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES_OK(ctx, CheckShadeInputs(ctx));
    const Tensor& vertices = ctx->input(0);
    const int64_t batch = vertices.dim_size(0), n = vertices.dim_size(1);
    const char* names[] = {"camera_vertices", "irradiance", "grad_camera_vertices", "grad_normals",
                           "grad_irradiance", "grad_colors"};
    for (int k = 0; k < 6; ++k) {
      OP_REQUIRES_OK(ctx, CheckShape(ctx->input(7 + k), vertices.shape(), names[k]));
    }
    OP_REQUIRES_OK(ctx, CheckShape(ctx->input(13), TensorShape({batch, n, 4}), "grad_clip"));
    Tensor triangles;
    OP_REQUIRES_OK(ctx, Int32Indices<CpuTag>(ctx, ctx->input(5), 0, n, "triangles", &triangles));
    const int64_t num_triangles = triangles.dim_size(0);
    const int32_t* tri = triangles.flat<int32_t>().data();
    Tensor *grad_vertices, *grad_albedo, *grad_rotation, *grad_translation, *grad_sh;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, vertices.shape(), &grad_vertices));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, vertices.shape(), &grad_albedo));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({batch, 3, 3}), &grad_rotation));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({batch, 3}), &grad_translation));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(4, TensorShape({batch, kShCoefficients, 3}), &grad_sh));
    Tensor faces_t, corner_t, unnormalised_t, partial_t;
    const int64_t vertex_units = batch * Blocks(n);
    const auto kFloat = ::tensorflow::DT_FLOAT;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(kFloat, TensorShape({batch, num_triangles, 3}), &faces_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(kFloat, TensorShape({batch, num_triangles, 9}), &corner_t));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(kFloat, vertices.shape(), &unnormalised_t));
    // Per-unit partial sums: 27 SH + 12 pose values, in double.
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(::tensorflow::DT_DOUBLE, TensorShape({vertex_units, 39}),
                                           &partial_t));
    double* partial = partial_t.flat<double>().data();
    std::fill(partial, partial + vertex_units * 39, 0.0);
    const auto cached = cache_.Get(ctx, tri, 3 * num_triangles, {n, 0}, [&](VertexCorners* incidence) {
      BuildVertexCorners(tri, num_triangles, n, incidence);
    });
    if (cached == nullptr) return;
    const VertexCorners& incidence = *cached;
    const float* cam = ctx->input(7).flat<float>().data();
    float* faces = faces_t.flat<float>().data();
    float* corners = corner_t.flat<float>().data();
    float* unnormalised = unnormalised_t.flat<float>().data();
    auto upstream = [ctx, n](int64_t b) {
      const int64_t offset = b * n * 3;
      return ShadeUpstream{ctx->input(9).flat<float>().data() + offset,
                           ctx->input(10).flat<float>().data() + offset,
                           ctx->input(11).flat<float>().data() + offset,
                           ctx->input(12).flat<float>().data() + offset,
                           ctx->input(13).flat<float>().data() + b * n * 4};
    };
    const char* what = "shade vertices gradient";
    RunBlocks(ctx, batch, num_triangles, what, [&](int64_t b, int64_t begin, int64_t end, int64_t) {
      FaceNormalsCpu(cam + b * n * 3, tri, begin, end, faces + b * num_triangles * 3);
    });
    RunBlocks(ctx, batch, n, what, [&](int64_t b, int64_t begin, int64_t end, int64_t unit) {
      const int64_t offset = b * n * 3;
      ShadeGradVerticesCpu(Image(ctx, b, n), incidence, faces + b * num_triangles * 3,
                           ctx->input(8).flat<float>().data() + offset, upstream(b), eps_, begin, end,
                           grad_albedo->flat<float>().data() + offset, unnormalised + offset,
                           partial + 39 * unit);
    });
    RunBlocks(ctx, batch, num_triangles, what, [&](int64_t b, int64_t begin, int64_t end, int64_t) {
      ShadeGradTrianglesCpu(cam + b * n * 3, tri, unnormalised + b * n * 3, begin, end,
                            corners + b * num_triangles * 9);
    });
    RunBlocks(ctx, batch, n, what, [&](int64_t b, int64_t begin, int64_t end, int64_t unit) {
      ShadeGradPoseCpu(Image(ctx, b, n), incidence, corners + b * num_triangles * 9, upstream(b), begin, end,
                       grad_vertices->flat<float>().data() + b * n * 3, partial + 39 * unit + 27);
    });
    // Partial sums in unit order (fixed blocks: the same floats at any thread count).
    const int64_t blocks = Blocks(n);
    float* g_sh = grad_sh->flat<float>().data();
    float* g_r = grad_rotation->flat<float>().data();
    float* g_t = grad_translation->flat<float>().data();
    for (int64_t b = 0; b < batch; ++b) {
      double sums[39] = {};
      for (int64_t block = 0; block < blocks; ++block) {
        const double* p = partial + 39 * (b * blocks + block);
        for (int k = 0; k < 39; ++k) sums[k] += p[k];
      }
      for (int k = 0; k < 27; ++k) g_sh[27 * b + k] = static_cast<float>(sums[k]);
      for (int k = 0; k < 9; ++k) g_r[9 * b + k] = static_cast<float>(sums[27 + k]);
      for (int k = 0; k < 3; ++k) g_t[3 * b + k] = static_cast<float>(sums[36 + k]);
    }
  }

 private:
  float eps_;
  IndexCache<VertexCorners> cache_;
};

REGISTER_KERNEL_BUILDER(Name("ShadeVertices").Device(::tensorflow::DEVICE_CPU), ShadeVerticesOp);
REGISTER_KERNEL_BUILDER(Name("ShadeVerticesGrad").Device(::tensorflow::DEVICE_CPU), ShadeVerticesGradOp);

}  // namespace c3dmm
