// Framework-free CPU kernels of UpsampleNodes (see upsample_nodes_cpu.h).
#include "tf_ops/cc/upsample_nodes_cpu.h"

namespace c3dmm {

void BuildNodeEntries(const int32_t* neighbours, int64_t num_vertices, int64_t k, int64_t num_nodes,
                      NodeEntries* index) {
  const int64_t num_entries = num_vertices * k;
  index->offsets.assign(num_nodes + 1, 0);
  index->entries.resize(num_entries);
  index->vertices.resize(num_entries);
  for (int64_t e = 0; e < num_entries; ++e) ++index->offsets[neighbours[e] + 1];
  for (int64_t g = 0; g < num_nodes; ++g) index->offsets[g + 1] += index->offsets[g];
  std::vector<int64_t> next(index->offsets.begin(), index->offsets.end() - 1);
  for (int64_t e = 0; e < num_entries; ++e) index->entries[next[neighbours[e]]++] = e;
  for (int64_t i = 0; i < num_entries; ++i) index->vertices[i] = index->entries[i] / k;
}

void UpsampleNodesCpu(const float* values, const int32_t* neighbours, const float* weights, int64_t k,
                      int64_t channels, int64_t begin, int64_t end, float* out) {
  if (channels == 3) {  // positions: the sums in registers, the same order as below
    for (int64_t n = begin; n < end; ++n) {
      float x = 0.0f, y = 0.0f, z = 0.0f;
      for (int64_t j = 0; j < k; ++j) {
        const float w = weights[n * k + j];
        const float* v = values + static_cast<int64_t>(neighbours[n * k + j]) * 3;
        x += w * v[0];
        y += w * v[1];
        z += w * v[2];
      }
      out[3 * n] = x;
      out[3 * n + 1] = y;
      out[3 * n + 2] = z;
    }
    return;
  }
  for (int64_t n = begin; n < end; ++n) {
    float* o = out + n * channels;
    for (int64_t c = 0; c < channels; ++c) o[c] = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
      const float w = weights[n * k + j];
      const float* v = values + static_cast<int64_t>(neighbours[n * k + j]) * channels;
      for (int64_t c = 0; c < channels; ++c) o[c] += w * v[c];
    }
  }
}

void UpsampleNodesGradCpu(const float* grad_out, const float* weights, const NodeEntries& index,
                          int64_t channels, int64_t begin, int64_t end, float* grad_values) {
  if (channels == 3) {  // positions: the sums in registers (the output cannot alias the inputs)
    for (int64_t g = begin; g < end; ++g) {
      float x = 0.0f, y = 0.0f, z = 0.0f;
      for (int64_t j = index.offsets[g]; j < index.offsets[g + 1]; ++j) {
        const float w = weights[index.entries[j]];
        const float* go = grad_out + index.vertices[j] * 3;
        x += w * go[0];
        y += w * go[1];
        z += w * go[2];
      }
      grad_values[3 * g] = x;
      grad_values[3 * g + 1] = y;
      grad_values[3 * g + 2] = z;
    }
    return;
  }
  for (int64_t g = begin; g < end; ++g) {
    float* d = grad_values + g * channels;
    for (int64_t c = 0; c < channels; ++c) d[c] = 0.0f;
    for (int64_t j = index.offsets[g]; j < index.offsets[g + 1]; ++j) {
      const float w = weights[index.entries[j]];
      const float* go = grad_out + index.vertices[j] * channels;
      for (int64_t c = 0; c < channels; ++c) d[c] += w * go[c];
    }
  }
}

}  // namespace c3dmm
