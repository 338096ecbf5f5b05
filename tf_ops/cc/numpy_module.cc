// pybind11 binding of the framework-free kernels for numpy (no TensorFlow): tf_ops._numpy_kernels.
// The CPU kernels (rasterize_cpu.h) take and return numpy arrays, whole images on the calling thread
// with the GIL released. When built with nvcc (C3DMM_WITH_CUDA), the CUDA launchers (rasterize_cuda.h)
// are exposed too, on raw device pointers and a stream handle (for example CuPy's `.data.ptr` and
// `Stream.ptr`). Inputs are validated like the TF op's; arrays of another dtype are converted only when
// numpy's safe casting allows (never float64 -> float32 or int64 -> int32: a TypeError instead).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>

#include "tf_ops/cc/raster_common.h"
#include "tf_ops/cc/rasterize_cpu.h"

#ifdef C3DMM_WITH_CUDA
#include "tf_ops/cc/rasterize_cuda.h"
#endif

namespace py = pybind11;

namespace c3dmm {
namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style>;  // C-contiguous; safe dtype conversions only

constexpr int64_t kMaxCount = int64_t{1} << 30;  // vertices, triangles (as in the TF op)

std::string ShapeString(const py::array& a) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + "]";
}

// Raises ValueError unless `a` has rank `dims.size()` and the given sides (-1: any side).
void CheckShape(const py::array& a, std::initializer_list<int64_t> dims, const char* name,
                const char* layout) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(dims.size());
  int i = 0;
  for (int64_t d : dims) {
    if (ok && d >= 0 && a.shape(i) != d) ok = false;
    ++i;
  }
  if (!ok) {
    throw py::value_error(std::string(name) + " must have shape " + layout + ", got " + ShapeString(a));
  }
}

void CheckRange(const Array<int32_t>& a, int64_t low, int64_t high, const char* name) {
  const int32_t* values = a.data();
  for (py::ssize_t i = 0; i < a.size(); ++i) {
    if (values[i] < low || values[i] >= high) {
      throw py::value_error(std::string(name) + " value " + std::to_string(values[i]) +
                            " at flat position " + std::to_string(i) + " is outside [" +
                            std::to_string(low) + ", " + std::to_string(high) + ")");
    }
  }
}

void CheckImageSize(int64_t height, int64_t width) {
  if (height < 1 || width < 1 || height > kMaxImageSize || width > kMaxImageSize) {
    throw py::value_error("image size must be in [1, " + std::to_string(kMaxImageSize) +
                          "] per side, got " + std::to_string(height) + "x" + std::to_string(width));
  }
}

// clip_vertices [B, V, 4] and triangles [T, 3] with indices in [0, V).
void CheckMesh(const Array<float>& clip_vertices, const Array<int32_t>& triangles) {
  CheckShape(clip_vertices, {-1, -1, 4}, "clip_vertices", "[B, V, 4]");
  CheckShape(triangles, {-1, 3}, "triangles", "[T, 3]");
  if (clip_vertices.shape(1) > kMaxCount || triangles.shape(0) > kMaxCount) {
    throw py::value_error("at most 2**30 vertices and triangles");
  }
  CheckRange(triangles, 0, clip_vertices.shape(1), "triangles");
}

py::tuple Rasterize(const Array<float>& clip_vertices, const Array<int32_t>& triangles, int64_t height,
                    int64_t width) {
  CheckMesh(clip_vertices, triangles);
  CheckImageSize(height, width);
  const int64_t batch = clip_vertices.shape(0), pixels = height * width;
  const int32_t num_vertices = static_cast<int32_t>(clip_vertices.shape(1));
  const int32_t num_triangles = static_cast<int32_t>(triangles.shape(0));
  Array<int32_t> triangle_ids({batch, height, width});
  Array<float> barycentrics({batch, height, width, int64_t{3}});
  Array<float> depth({batch, height, width});
  const float* vertices_in = clip_vertices.data();
  const int32_t* vertex_indices = triangles.data();
  int32_t* ids_out = triangle_ids.mutable_data();
  float* barycentrics_out = barycentrics.mutable_data();
  float* depth_out = depth.mutable_data();
  {
    py::gil_scoped_release release;
    for (int64_t image = 0; image < batch; ++image) {
      RasterizeBandCpu(vertices_in + image * num_vertices * 4, num_vertices, vertex_indices, num_triangles,
                       static_cast<int32_t>(height), static_cast<int32_t>(width), 0,
                       static_cast<int32_t>(height), ids_out + image * pixels,
                       barycentrics_out + image * pixels * 3, depth_out + image * pixels);
    }
  }
  return py::make_tuple(triangle_ids, barycentrics, depth);
}

Array<float> RasterizeGrad(const Array<float>& clip_vertices, const Array<int32_t>& triangles,
                           const Array<int32_t>& triangle_ids, const Array<float>& barycentrics,
                           const Array<float>& grad_barycentrics) {
  CheckMesh(clip_vertices, triangles);
  const int64_t batch = clip_vertices.shape(0);
  CheckShape(triangle_ids, {batch, -1, -1}, "triangle_ids", "[B, H, W]");
  const int64_t height = triangle_ids.shape(1), width = triangle_ids.shape(2), pixels = height * width;
  CheckImageSize(height, width);
  CheckShape(barycentrics, {batch, height, width, 3}, "barycentrics", "[B, H, W, 3]");
  CheckShape(grad_barycentrics, {batch, height, width, 3}, "grad_barycentrics", "[B, H, W, 3]");
  CheckRange(triangle_ids, -1, triangles.shape(0), "triangle_ids");
  const int64_t vertex_floats = clip_vertices.shape(1) * 4;
  Array<float> grad_clip_vertices({batch, clip_vertices.shape(1), int64_t{4}});
  float* grad_out = grad_clip_vertices.mutable_data();
  std::memset(grad_out, 0, sizeof(float) * grad_clip_vertices.size());
  const float* vertices_in = clip_vertices.data();
  const int32_t* vertex_indices = triangles.data();
  const int32_t* ids_in = triangle_ids.data();
  const float* barycentrics_in = barycentrics.data();
  const float* grad_barycentrics_in = grad_barycentrics.data();
  {
    py::gil_scoped_release release;
    for (int64_t image = 0; image < batch; ++image) {
      RasterizeGradBandCpu(vertices_in + image * vertex_floats, vertex_indices, ids_in + image * pixels,
                           barycentrics_in + image * pixels * 3, grad_barycentrics_in + image * pixels * 3,
                           static_cast<int32_t>(height), static_cast<int32_t>(width), 0,
                           static_cast<int32_t>(height), grad_out + image * vertex_floats);
    }
  }
  return grad_clip_vertices;
}

// attributes [B, V, C], triangle_ids [B, H, W], barycentrics [B, H, W, 3], triangles [T, 3].
void CheckInterpolateInputs(const Array<float>& attributes, const Array<int32_t>& triangle_ids,
                            const Array<float>& barycentrics, const Array<int32_t>& triangles) {
  CheckShape(attributes, {-1, -1, -1}, "attributes", "[B, V, C]");
  CheckShape(triangles, {-1, 3}, "triangles", "[T, 3]");
  CheckShape(triangle_ids, {attributes.shape(0), -1, -1}, "triangle_ids", "[B, H, W]");
  CheckShape(barycentrics, {attributes.shape(0), triangle_ids.shape(1), triangle_ids.shape(2), 3},
             "barycentrics", "[B, H, W, 3]");
  if (attributes.shape(1) > kMaxCount || attributes.shape(2) > INT32_MAX ||
      triangles.shape(0) > kMaxCount) {
    const std::string shapes = ShapeString(attributes) + " and " + ShapeString(triangles);
    throw py::value_error("attributes and triangles " + shapes +
                          ": at most 2**30 vertices and triangles, 2**31 - 1 channels");
  }
  CheckRange(triangles, 0, attributes.shape(1), "triangles");
  CheckRange(triangle_ids, -1, triangles.shape(0), "triangle_ids");
}

Array<float> Interpolate(const Array<float>& attributes, const Array<int32_t>& triangle_ids,
                         const Array<float>& barycentrics, const Array<int32_t>& triangles) {
  CheckInterpolateInputs(attributes, triangle_ids, barycentrics, triangles);
  const int64_t batch = attributes.shape(0), pixels = triangle_ids.shape(1) * triangle_ids.shape(2);
  const int32_t channels = static_cast<int32_t>(attributes.shape(2));
  const int64_t attribute_floats = attributes.shape(1) * channels;
  Array<float> interpolated({batch, triangle_ids.shape(1), triangle_ids.shape(2), attributes.shape(2)});
  const float* attributes_in = attributes.data();
  const int32_t* vertex_indices = triangles.data();
  const int32_t* ids_in = triangle_ids.data();
  const float* barycentrics_in = barycentrics.data();
  float* interpolated_out = interpolated.mutable_data();
  {
    py::gil_scoped_release release;
    for (int64_t image = 0; image < batch; ++image) {
      InterpolateCpu(attributes_in + image * attribute_floats, channels, vertex_indices,
                     ids_in + image * pixels, barycentrics_in + image * pixels * 3, 0, pixels,
                     interpolated_out + image * pixels * channels);
    }
  }
  return interpolated;
}

py::tuple InterpolateGrad(const Array<float>& attributes, const Array<int32_t>& triangle_ids,
                          const Array<float>& barycentrics, const Array<int32_t>& triangles,
                          const Array<float>& grad_interpolated) {
  CheckInterpolateInputs(attributes, triangle_ids, barycentrics, triangles);
  CheckShape(grad_interpolated, {attributes.shape(0), triangle_ids.shape(1), triangle_ids.shape(2),
                                 attributes.shape(2)}, "grad_interpolated", "[B, H, W, C]");
  const int64_t batch = attributes.shape(0), pixels = triangle_ids.shape(1) * triangle_ids.shape(2);
  const int32_t channels = static_cast<int32_t>(attributes.shape(2));
  const int64_t attribute_floats = attributes.shape(1) * channels;
  Array<float> grad_attributes({batch, attributes.shape(1), attributes.shape(2)});
  Array<float> grad_barycentrics({batch, triangle_ids.shape(1), triangle_ids.shape(2), int64_t{3}});
  float* grad_attributes_out = grad_attributes.mutable_data();
  float* grad_barycentrics_out = grad_barycentrics.mutable_data();
  std::memset(grad_attributes_out, 0, sizeof(float) * grad_attributes.size());
  const float* attributes_in = attributes.data();
  const int32_t* vertex_indices = triangles.data();
  const int32_t* ids_in = triangle_ids.data();
  const float* barycentrics_in = barycentrics.data();
  const float* grad_interpolated_in = grad_interpolated.data();
  {
    py::gil_scoped_release release;
    for (int64_t image = 0; image < batch; ++image) {
      InterpolateGradCpu(attributes_in + image * attribute_floats, channels, vertex_indices,
                         ids_in + image * pixels, barycentrics_in + image * pixels * 3,
                         grad_interpolated_in + image * pixels * channels, 0, pixels,
                         grad_attributes_out + image * attribute_floats,
                         grad_barycentrics_out + image * pixels * 3);
    }
  }
  return py::make_tuple(grad_attributes, grad_barycentrics);
}

#ifdef C3DMM_WITH_CUDA
// CUDA launchers on raw device pointers: no validation beyond what the kernels do (they treat
// out-of-range indices as covering nothing); a failed launch raises RuntimeError with CUDA's message.
template <typename T>
T* DevicePtr(std::uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

void CheckLaunch(int code, const char* what) {
  if (code != 0) {
    throw std::runtime_error(std::string(what) + " CUDA launch failed: " + c3dmm_cuda_error_string(code) +
                             " (error " + std::to_string(code) + ")");
  }
}

void BindCuda(py::module_& m) {
  using Ptr = std::uintptr_t;
  m.def("cuda_rasterize_scratch_bytes", &c3dmm_rasterize_scratch_bytes, py::arg("batch"),
        py::arg("num_vertices"), py::arg("height"), py::arg("width"),
        "Bytes of device scratch memory that cuda_rasterize needs.");
  m.def(
      "cuda_rasterize",
      [](Ptr stream, Ptr clip_vertices, int32_t batch, int32_t num_vertices, Ptr triangles,
         int32_t num_triangles, int32_t height, int32_t width, Ptr scratch, Ptr triangle_ids,
         Ptr barycentrics, Ptr depth) {
        CheckLaunch(c3dmm_rasterize_cuda(DevicePtr<CUstream_st>(stream),
                                         DevicePtr<const float>(clip_vertices), batch, num_vertices,
                                         DevicePtr<const int32_t>(triangles), num_triangles, height, width,
                                         DevicePtr<void>(scratch), DevicePtr<int32_t>(triangle_ids),
                                         DevicePtr<float>(barycentrics),
                                         DevicePtr<float>(depth)),
                    "rasterize");
      },
      "Enqueues c3dmm_rasterize_cuda on `stream` (device pointers as integers).");
  m.def(
      "cuda_rasterize_grad",
      [](Ptr stream, Ptr clip_vertices, int32_t batch, int32_t num_vertices, Ptr triangles,
         int32_t num_triangles, Ptr triangle_ids, Ptr barycentrics, Ptr grad_barycentrics, int32_t height,
         int32_t width, Ptr grad_clip_vertices) {
        CheckLaunch(c3dmm_rasterize_grad_cuda(
                        DevicePtr<CUstream_st>(stream), DevicePtr<const float>(clip_vertices), batch,
                        num_vertices, DevicePtr<const int32_t>(triangles), num_triangles,
                        DevicePtr<const int32_t>(triangle_ids), DevicePtr<const float>(barycentrics),
                        DevicePtr<const float>(grad_barycentrics), height, width,
                        DevicePtr<float>(grad_clip_vertices)),
                    "rasterize gradient");
      },
      "Enqueues c3dmm_rasterize_grad_cuda on `stream`.");
  m.def(
      "cuda_interpolate",
      [](Ptr stream, Ptr attributes, int32_t batch, int32_t num_vertices, int32_t channels, Ptr triangles,
         int32_t num_triangles, Ptr triangle_ids, Ptr barycentrics, int64_t pixels, Ptr interpolated) {
        CheckLaunch(c3dmm_interpolate_cuda(DevicePtr<CUstream_st>(stream), DevicePtr<const float>(attributes),
                                           batch, num_vertices, channels, DevicePtr<const int32_t>(triangles),
                                           num_triangles, DevicePtr<const int32_t>(triangle_ids),
                                           DevicePtr<const float>(barycentrics), pixels,
                                           DevicePtr<float>(interpolated)),
                    "interpolate");
      },
      "Enqueues c3dmm_interpolate_cuda on `stream`.");
  m.def(
      "cuda_interpolate_grad",
      [](Ptr stream, Ptr attributes, int32_t batch, int32_t num_vertices, int32_t channels, Ptr triangles,
         int32_t num_triangles, Ptr triangle_ids, Ptr barycentrics, Ptr grad_interpolated, int64_t pixels,
         Ptr grad_attributes, Ptr grad_barycentrics) {
        CheckLaunch(c3dmm_interpolate_grad_cuda(
                        DevicePtr<CUstream_st>(stream), DevicePtr<const float>(attributes), batch,
                        num_vertices, channels, DevicePtr<const int32_t>(triangles), num_triangles,
                        DevicePtr<const int32_t>(triangle_ids), DevicePtr<const float>(barycentrics),
                        DevicePtr<const float>(grad_interpolated), pixels, DevicePtr<float>(grad_attributes),
                        DevicePtr<float>(grad_barycentrics)),
                    "interpolate gradient");
      },
      "Enqueues c3dmm_interpolate_grad_cuda on `stream`.");
}
#endif  // C3DMM_WITH_CUDA

}  // namespace
}  // namespace c3dmm

PYBIND11_MODULE(_numpy_kernels, m) {
  using namespace c3dmm;  // NOLINT
  m.doc() = "The rasterizer's framework-free kernels on numpy arrays (tf_ops/cc/numpy_module.cc).";
  m.attr("MAX_IMAGE_SIZE") = kMaxImageSize;
#ifdef C3DMM_WITH_CUDA
  m.attr("WITH_CUDA") = true;
  BindCuda(m);
#else
  m.attr("WITH_CUDA") = false;
#endif
  m.def("rasterize", &Rasterize, py::arg("clip_vertices"), py::arg("triangles"), py::arg("height"),
        py::arg("width"),
        "float32 [B, V, 4], int32 [T, 3], height, width -> (triangle_ids int32 [B, H, W], barycentrics "
        "float32 [B, H, W, 3], depth float32 [B, H, W]), as tf_ops.rasterize.");
  m.def("rasterize_grad", &RasterizeGrad, py::arg("clip_vertices"), py::arg("triangles"),
        py::arg("triangle_ids"), py::arg("barycentrics"), py::arg("grad_barycentrics"),
        "d(loss)/d(clip_vertices) [B, V, 4] from the forward outputs and d(loss)/d(barycentrics).");
  m.def("interpolate", &Interpolate, py::arg("attributes"), py::arg("triangle_ids"), py::arg("barycentrics"),
        py::arg("triangles"), "attributes [B, V, C] -> [B, H, W, C], as tf_ops.interpolate.");
  m.def("interpolate_grad", &InterpolateGrad, py::arg("attributes"), py::arg("triangle_ids"),
        py::arg("barycentrics"), py::arg("triangles"), py::arg("grad_interpolated"),
        "-> (grad_attributes [B, V, C], grad_barycentrics [B, H, W, 3]).");
}
