// What the two op files (rasterize_op.cc, interpolate_op.cc) share: input validation, the CPU work split
// into (image, row band) units on TF's intra-op pool, the sum of per-band gradient buffers, and the CUDA
// stream and launch-status helpers. Header-only; TensorFlow glue only (the kernels never see TF).
#ifndef C3DMM_TF_OPS_OP_COMMON_H_
#define C3DMM_TF_OPS_OP_COMMON_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/threadpool.h"
#include "tf_ops/cc/raster_common.h"

#ifdef C3DMM_WITH_CUDA
#include "tf_ops/cc/rasterize_cuda.h"
#include "xla/stream_executor/stream.h"
#endif

namespace c3dmm {

// Device tags of the kernel templates (the kernels never use Eigen devices).
struct CpuTag {};
struct GpuTag {};

template <typename Device>
constexpr bool kOnHost = std::is_same<Device, CpuTag>::value;

// Largest vertex and triangle counts: indices and their x3 / x4 offsets stay far inside int32.
constexpr int64_t kMaxElements = int64_t{1} << 30;
// Largest batch and attribute channel count: both are passed to the kernels as int32.
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();

using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::errors::InvalidArgument;

// ---------------------------------------------------------------------------------------------------
// Validation. Every size a kernel receives as int32 is checked here before it is narrowed.

inline Status ReadImageSize(OpKernelConstruction* ctx, int* height, int* width) {
  int64_t h, w;
  TF_RETURN_IF_ERROR(ctx->GetAttr("image_height", &h));
  TF_RETURN_IF_ERROR(ctx->GetAttr("image_width", &w));
  if (h < 1 || w < 1 || h > kMaxImageSize || w > kMaxImageSize) {
    return InvalidArgument("image size must be in [1, ", kMaxImageSize, "] per side, got ", h, "x", w);
  }
  *height = static_cast<int>(h);
  *width = static_cast<int>(w);
  return Status();
}

inline Status CheckVertices(const Tensor& clip_vertices) {
  if (clip_vertices.dims() != 3 || clip_vertices.dim_size(2) != 4) {
    return InvalidArgument("clip_vertices must have shape [B, V, 4], got ",
                           clip_vertices.shape().DebugString());
  }
  if (clip_vertices.dim_size(0) > kMaxInt32 || clip_vertices.dim_size(1) > kMaxElements) {
    return InvalidArgument("clip_vertices ", clip_vertices.shape().DebugString(), ": at most ",
                           kMaxInt32, " images of ", kMaxElements, " vertices");
  }
  return Status();
}

inline Status CheckTrianglesShape(const Tensor& triangles) {
  if (triangles.dims() != 2 || triangles.dim_size(1) != 3) {
    return InvalidArgument("triangles must have shape [T, 3], got ", triangles.shape().DebugString());
  }
  if (triangles.dim_size(0) > kMaxElements) {
    return InvalidArgument("triangles ", triangles.shape().DebugString(), ": at most ", kMaxElements);
  }
  return Status();
}

inline Status CheckIdsShape(const Tensor& triangle_ids, int64_t batch) {
  if (triangle_ids.dims() != 3 || triangle_ids.dim_size(0) != batch) {
    return InvalidArgument("triangle_ids must have shape [B, H, W] with B = ", batch, ", got ",
                           triangle_ids.shape().DebugString());
  }
  return Status();
}

inline Status CheckShape(const Tensor& tensor, const TensorShape& expected, const char* name) {
  if (tensor.shape() != expected) {
    return InvalidArgument(name, " must have shape ", expected.DebugString(), ", got ",
                           tensor.shape().DebugString());
  }
  return Status();
}

template <typename Index>
Status CheckIndexRange(const Tensor& indices, int64_t low, int64_t high, const char* name) {
  const auto values = indices.flat<Index>();
  // Fast path: the smallest and largest value in one vectorisable pass (every op call checks every id
  // of a [B, H, W] image); only an out-of-range value pays for the search of its position below.
  if (values.size() > 0) {
    const Index* data = values.data();
    Index smallest = data[0], largest = data[0];
    for (int64_t i = 1; i < values.size(); ++i) {
      smallest = std::min(smallest, data[i]);
      largest = std::max(largest, data[i]);
    }
    if (static_cast<int64_t>(smallest) >= low && static_cast<int64_t>(largest) < high) return Status();
  }
  for (int64_t i = 0; i < values.size(); ++i) {
    const int64_t value = static_cast<int64_t>(values(i));
    if (value < low || value >= high) {
      return InvalidArgument(name, " value ", value, " at flat position ", i, " is outside [", low,
                             ", ", high, ")");
    }
  }
  return Status();
}

// Index tensors (triangles, triangle ids) are int32 or int64. On the host every value is checked to lie
// in [low, high) and *as_int32 receives the indices as int32: the input itself, or a narrowed copy of
// an int64 input (exact, after the check). On the GPU the values are in device memory: the op is
// registered for int32 only, and the CUDA kernels treat out-of-range values as covering nothing.
template <typename Device>
Status Int32Indices(OpKernelContext* ctx, const Tensor& indices, int64_t low, int64_t high,
                    const char* name, Tensor* as_int32) {
  if (!kOnHost<Device>) {
    *as_int32 = indices;
    return Status();
  }
  if (indices.dtype() == ::tensorflow::DT_INT32) {
    TF_RETURN_IF_ERROR(CheckIndexRange<int32_t>(indices, low, high, name));
    *as_int32 = indices;
    return Status();
  }
  if (indices.dtype() != ::tensorflow::DT_INT64) {
    return InvalidArgument(name, " must be int32 or int64, got ",
                           ::tensorflow::DataTypeString(indices.dtype()));
  }
  TF_RETURN_IF_ERROR(CheckIndexRange<int64_t>(indices, low, high, name));
  TF_RETURN_IF_ERROR(ctx->allocate_temp(::tensorflow::DT_INT32, indices.shape(), as_int32));
  const auto wide = indices.flat<int64_t>();
  auto narrow = as_int32->flat<int32_t>();
  for (int64_t i = 0; i < wide.size(); ++i) narrow(i) = static_cast<int32_t>(wide(i));
  return Status();
}

// ---------------------------------------------------------------------------------------------------
// CPU work split: `images` images split into `bands` bands of rows (or pixels) each, so that a batch
// smaller than the thread count still keeps every thread busy.

struct WorkSplit {
  int64_t images = 0;
  int64_t bands = 1;
  int64_t units() const { return images * bands; }
  int64_t image(int64_t unit) const { return unit / bands; }
  // Rows (or pixels) [*begin, *end) of unit's band, out of `rows`.
  void Band(int64_t unit, int64_t rows, int64_t* begin, int64_t* end) const {
    const int64_t band = unit % bands;
    *begin = band * rows / bands;
    *end = (band + 1) * rows / bands;
  }
};

inline WorkSplit SplitWork(OpKernelContext* ctx, int64_t images, int64_t rows) {
  const int threads = ctx->device()->tensorflow_cpu_worker_threads()->num_threads;
  WorkSplit split;
  split.images = images;
  if (images > 0 && images < threads) split.bands = std::min<int64_t>((threads + images - 1) / images, rows);
  split.bands = std::max<int64_t>(split.bands, 1);
  return split;
}

// Runs fn(unit) for every unit, one unit per task, on the intra-op pool. A kernel that runs out of
// memory (std::bad_alloc from its scratch buffers) fails the op with ResourceExhausted instead of
// escaping a worker thread and terminating the process.
template <typename Fn>
void RunUnits(OpKernelContext* ctx, int64_t units, const char* what, const Fn& fn) {
  if (units <= 0) return;
  std::atomic<int> failure{0};  // 0 = none, 1 = out of memory, 2 = another exception
  auto guarded = [&](int64_t unit) {
    if (failure.load(std::memory_order_relaxed) != 0) return;
    try {
      fn(unit);
    } catch (const std::bad_alloc&) {
      failure.store(1);
    } catch (const std::length_error&) {  // a std::vector larger than max_size(): out of memory too
      failure.store(1);
    } catch (...) {
      failure.store(2);
    }
  };
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  if (units == 1 || pool->NumThreads() <= 1) {
    for (int64_t u = 0; u < units; ++u) guarded(u);
  } else {
    // A huge per-unit cost makes the pool schedule each unit as its own task.
    pool->ParallelFor(units, /*cost_per_unit=*/1 << 30, [&guarded](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) guarded(u);
    });
  }
  if (failure.load() == 1) {
    ctx->SetStatus(::tensorflow::errors::ResourceExhausted("out of memory in the ", what, " CPU kernel"));
  } else if (failure.load() == 2) {
    ctx->SetStatus(::tensorflow::errors::Internal("the ", what, " CPU kernel raised an exception"));
  }
}

// Runs fn(block) for every block in [0, blocks), consecutive blocks grouped into at most two tasks per
// thread of the intra-op pool: scheduling a task costs microseconds, more than a small block's work. The
// grouping never changes what a block computes, so per-block results (and partial sums kept per block)
// are the same at any thread count.
template <typename Fn>
void RunBlocksGrouped(OpKernelContext* ctx, int64_t blocks, const char* what, const Fn& fn) {
  const int threads = ctx->device()->tensorflow_cpu_worker_threads()->num_threads;
  const int64_t units = std::min<int64_t>(blocks, 2 * static_cast<int64_t>(std::max(threads, 1)));
  RunUnits(ctx, units, what, [&](int64_t unit) {
    const int64_t end = (unit + 1) * blocks / units;
    for (int64_t block = unit * blocks / units; block < end; ++block) fn(block);
  });
}

// What a kernel derives from an index tensor (a mesh's vertex incidence, the transposed upsampling),
// built once and reused while the indices (compared element by element) and the sizes stay the same: a
// model passes the same mesh in every step. Get returns null, with a ResourceExhausted status set, when
// building runs out of memory.
template <typename Index>
class IndexCache {
 public:
  // build(Index*) fills a default-constructed Index from the `count` indices at `key`.
  template <typename Build>
  std::shared_ptr<const Index> Get(OpKernelContext* ctx, const int32_t* key, int64_t count,
                                   std::array<int64_t, 2> sizes, const Build& build) {
    std::lock_guard<std::mutex> lock(mu_);
    const bool same = index_ != nullptr && sizes == sizes_ && static_cast<int64_t>(key_.size()) == count &&
                      (count == 0 || std::memcmp(key_.data(), key, count * sizeof(int32_t)) == 0);
    if (!same) {
      index_ = nullptr;
      try {
        auto built = std::make_shared<Index>();
        build(built.get());
        key_.assign(key, key + count);
        sizes_ = sizes;
        index_ = std::move(built);
      } catch (const std::bad_alloc&) {
        ctx->SetStatus(::tensorflow::errors::ResourceExhausted("out of memory building a mesh index"));
      } catch (const std::length_error&) {
        ctx->SetStatus(::tensorflow::errors::ResourceExhausted("out of memory building a mesh index"));
      }
    }
    return index_;
  }

 private:
  std::mutex mu_;
  std::vector<int32_t> key_;
  std::array<int64_t, 2> sizes_ = {-1, -1};
  std::shared_ptr<const Index> index_;
};

// Gradient accumulation of a split batch: each image owns a disjoint `stride`-float slice of `grad`;
// when images are split into several bands, each unit accumulates into its own slice of a temporary
// buffer, summed into `grad` afterwards in unit order, so no two threads ever write the same float
// (race-free and deterministic). Usage: Prepare, then Target(unit) in every unit, then Reduce.
class BandGradients {
 public:
  BandGradients(const WorkSplit& split, int64_t stride) : split_(split), stride_(stride) {}

  // Zeroes `grad` ([images * stride] floats) and allocates the per-unit buffers (through TF's
  // allocator: running out of memory is a ResourceExhausted status).
  Status Prepare(OpKernelContext* ctx, float* grad) {
    grad_ = grad;
    std::fill(grad, grad + split_.images * stride_, 0.0f);
    if (split_.bands == 1) return Status();
    TF_RETURN_IF_ERROR(ctx->allocate_temp(::tensorflow::DT_FLOAT,
                                          TensorShape({split_.units(), stride_}), &partial_));
    partial_.flat<float>().setZero();
    return Status();
  }

  float* Target(int64_t unit) {
    if (split_.bands == 1) return grad_ + unit * stride_;
    return partial_.flat<float>().data() + unit * stride_;
  }

  void Reduce() {
    if (split_.bands == 1) return;
    const float* partial = partial_.flat<float>().data();
    for (int64_t unit = 0; unit < split_.units(); ++unit) {
      float* image_grad = grad_ + split_.image(unit) * stride_;
      const float* unit_grad = partial + unit * stride_;
      for (int64_t i = 0; i < stride_; ++i) image_grad[i] += unit_grad[i];
    }
  }

 private:
  WorkSplit split_;
  int64_t stride_;
  float* grad_ = nullptr;
  Tensor partial_;
};

#ifdef C3DMM_WITH_CUDA
// ---------------------------------------------------------------------------------------------------
// CUDA launches run on the op's stream; a failed launch becomes an Internal status with CUDA's message.

inline c3dmm_stream_t GetStream(OpKernelContext* ctx) {
  return reinterpret_cast<c3dmm_stream_t>(
      ctx->op_device_context()->stream()->platform_specific_handle().stream);
}

inline void CheckLaunch(OpKernelContext* ctx, int code, const char* what) {
  if (code != 0) {
    ctx->SetStatus(::tensorflow::errors::Internal(what, " CUDA launch failed: ",
                                                  c3dmm_cuda_error_string(code), " (error ", code, ")"));
  }
}
#endif  // C3DMM_WITH_CUDA

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_OP_COMMON_H_
