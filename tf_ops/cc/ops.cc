// Op registrations (inputs, attributes, shape functions). The kernels: rasterize_op.cc (RasterizeTriangles
// and its gradient) and interpolate_op.cc (InterpolateAttributes and its gradient). Index inputs are int32
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

}  // namespace c3dmm
