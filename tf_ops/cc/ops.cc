// Op registrations (inputs, attributes, shape functions). The kernels: rasterize_op.cc (RasterizeTriangles
// and its gradient), interpolate_op.cc (InterpolateAttributes and its gradient), shade_vertices_op.cc
// (ShadeVertices and its gradient, CPU) and basis_product_op.cc (BasisProduct and its gradient, CPU) and
// masked_squared_error_op.cc (MaskedSquaredError and its gradient, CPU) and upsample_nodes_op.cc
// (UpsampleNodes and its gradient, CPU). Index inputs are int32
// or int64 (Tindices: triangles, Tids: triangle ids); every value is range-checked by the CPU kernels
// before it is used, so an int64 index never wraps.
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf_ops/cc/raster_common.h"

namespace c3dmm {

using ::tensorflow::Status;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

REGISTER_OP("RasterizeTriangles")
    .Input("clip_vertices: float32")
    .Input("triangles: Tindices")
    .Attr("Tindices: {int32, int64}")
    .Attr("image_height: int")
    .Attr("image_width: int")
    .Output("triangle_ids: int32")
    .Output("barycentrics: float32")
    .Output("depth: float32")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle vertices, triangles;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &vertices));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &triangles));
      int64_t height, width;
      TF_RETURN_IF_ERROR(c->GetAttr("image_height", &height));
      TF_RETURN_IF_ERROR(c->GetAttr("image_width", &width));
      // Checked here too: MakeShape aborts the process on negative sizes.
      if (height < 1 || width < 1 || height > kMaxImageSize || width > kMaxImageSize) {
        return ::tensorflow::errors::InvalidArgument("image size must be in [1, ", kMaxImageSize,
                                                     "] per side, got ", height, "x", width);
      }
      DimensionHandle batch = c->Dim(vertices, 0);
      c->set_output(0, c->MakeShape({batch, height, width}));
      c->set_output(1, c->MakeShape({batch, height, width, 3}));
      c->set_output(2, c->MakeShape({batch, height, width}));
      return Status();
    })
    .Doc(R"doc(
Rasterizes a batch of triangle meshes (clip-space vertices [B, V, 4], shared triangles [T, 3]) into
per-pixel triangle ids (-1 = background), perspective-correct barycentrics and NDC depth.
)doc");

REGISTER_OP("RasterizeTrianglesGrad")
    .Input("clip_vertices: float32")
    .Input("triangles: Tindices")
    .Input("triangle_ids: Tids")
    .Input("barycentrics: float32")
    .Input("grad_barycentrics: float32")
    .Attr("Tindices: {int32, int64}")
    .Attr("Tids: {int32, int64}")
    .Attr("image_height: int")
    .Attr("image_width: int")
    .Output("grad_clip_vertices: float32")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return Status();
    })
    .Doc("Gradient of RasterizeTriangles' barycentrics with respect to clip_vertices (x, y, w).");

REGISTER_OP("InterpolateAttributes")
    .Input("attributes: float32")
    .Input("triangle_ids: Tids")
    .Input("barycentrics: float32")
    .Input("triangles: Tindices")
    .Attr("Tindices: {int32, int64}")
    .Attr("Tids: {int32, int64}")
    .Output("interpolated: float32")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle attributes, ids;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &attributes));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &ids));
      ShapeHandle out;
      TF_RETURN_IF_ERROR(c->Concatenate(ids, c->Vector(c->Dim(attributes, 2)), &out));
      c->set_output(0, out);
      return Status();
    })
    .Doc("Interpolates per-vertex attributes [B, V, C] with barycentrics into [B, H, W, C].");

REGISTER_OP("InterpolateAttributesGrad")
    .Input("attributes: float32")
    .Input("triangle_ids: Tids")
    .Input("barycentrics: float32")
    .Input("triangles: Tindices")
    .Input("grad_interpolated: float32")
    .Attr("Tindices: {int32, int64}")
    .Attr("Tids: {int32, int64}")
    .Output("grad_attributes: float32")
    .Output("grad_barycentrics: float32")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(2));
      return Status();
    })
    .Doc("Gradient of InterpolateAttributes with respect to attributes and barycentrics.");

REGISTER_OP("ShadeVertices")
    .Input("vertices: float32")
    .Input("albedo: float32")
    .Input("rotation: float32")
    .Input("translation: float32")
    .Input("sh: float32")
    .Input("triangles: Tindices")
    .Input("clip_transform: float32")
    .Attr("Tindices: {int32, int64}")
    .Attr("normal_eps: float = 1e-12")
    .Output("camera_vertices: float32")
    .Output("normals: float32")
    .Output("irradiance: float32")
    .Output("colors: float32")
    .Output("clip: float32")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle vertices, clip;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &vertices));
      for (int k = 0; k < 4; ++k) c->set_output(k, vertices);
      TF_RETURN_IF_ERROR(c->ReplaceDim(vertices, 2, c->MakeDim(4), &clip));
      c->set_output(4, clip);
      return Status();
    })
    .Doc(R"doc(
Pose, area-weighted vertex normals, Lambertian SH shading and clip-space projection of a batch of meshes
in one pass: camera_vertices = R v + t, normals, irradiance E = sum_k H_k(n) sh_k, colors = albedo E,
clip = camera_vertices A + c (clip_transform rows 0-2 = A, row 3 = c).
)doc");

REGISTER_OP("ShadeVerticesGrad")
    .Input("vertices: float32")
    .Input("albedo: float32")
    .Input("rotation: float32")
    .Input("translation: float32")
    .Input("sh: float32")
    .Input("triangles: Tindices")
    .Input("clip_transform: float32")
    .Input("camera_vertices: float32")
    .Input("irradiance: float32")
    .Input("grad_camera_vertices: float32")
    .Input("grad_normals: float32")
    .Input("grad_irradiance: float32")
    .Input("grad_colors: float32")
    .Input("grad_clip: float32")
    .Attr("Tindices: {int32, int64}")
    .Attr("normal_eps: float = 1e-12")
    .Output("grad_vertices: float32")
    .Output("grad_albedo: float32")
    .Output("grad_rotation: float32")
    .Output("grad_translation: float32")
    .Output("grad_sh: float32")
    .SetShapeFn([](InferenceContext* c) {
      for (int k = 0; k < 5; ++k) c->set_output(k, c->input(k));
      return Status();
    })
    .Doc("Gradient of ShadeVertices with respect to vertices, albedo, rotation, translation and sh.");

REGISTER_OP("BasisProduct")
    .Input("coefficients: float32")
    .Input("basis: float32")
    .Output("out: float32")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle coefficients, basis;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &coefficients));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &basis));
      c->set_output(0, c->Matrix(c->Dim(coefficients, 0), c->Dim(basis, 0)));
      return Status();
    })
    .Doc("out[b, i] = sum_k coefficients[b, k] basis[i, k]: coefficients [B, K], basis [D, K] -> [B, D].");

REGISTER_OP("BasisProductGrad")
    .Input("coefficients: float32")
    .Input("basis: float32")
    .Input("grad_out: float32")
    .Output("grad_coefficients: float32")
    .Output("grad_basis: float32")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(1));
      return Status();
    })
    .Doc("Gradient of BasisProduct with respect to coefficients and basis.");

REGISTER_OP("MaskedSquaredError")
    .Input("a: float32")
    .Input("b: float32")
    .Input("mask: float32")
    .Output("out: float32")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle a;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &a));
      c->set_output(0, c->Vector(c->Dim(a, 0)));
      return Status();
    })
    .Doc("out[n] = sum_p mask[n, p] sum_c (a[n, p, c] - b[n, p, c])^2: a, b [N, P, C], mask [N, P] -> [N].");

REGISTER_OP("MaskedSquaredErrorGrad")
    .Input("a: float32")
    .Input("b: float32")
    .Input("mask: float32")
    .Input("grad_out: float32")
    .Output("grad_a: float32")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return Status();
    })
    .Doc("Gradient of MaskedSquaredError with respect to a (b and mask are constants of the loss).");

REGISTER_OP("UpsampleNodes")
    .Input("values: float32")
    .Input("neighbours: Tindices")
    .Input("weights: float32")
    .Attr("Tindices: {int32, int64}")
    .Output("out: float32")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle values, neighbours;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &values));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &neighbours));
      c->set_output(0, c->MakeShape({c->Dim(values, 0), c->Dim(neighbours, 0), c->Dim(values, 2)}));
      return Status();
    })
    .Doc(R"doc(
out[b, n, c] = sum_k weights[n, k] values[b, neighbours[n, k], c]: values [B, G, C], neighbours and weights
[N, K] (a sparse N x G matrix with K entries per row, padded with weight 0) -> [B, N, C].
)doc");

REGISTER_OP("UpsampleNodesGrad")
    .Input("values: float32")
    .Input("neighbours: Tindices")
    .Input("weights: float32")
    .Input("grad_out: float32")
    .Attr("Tindices: {int32, int64}")
    .Output("grad_values: float32")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      return Status();
    })
    .Doc("Gradient of UpsampleNodes with respect to values (neighbours and weights are constants).");

}  // namespace c3dmm
