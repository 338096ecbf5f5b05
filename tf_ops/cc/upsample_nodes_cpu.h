// Framework-free CPU kernels of UpsampleNodes: per-vertex blends of deformation-graph node values,
//   out[n, c] = sum_k weights[n, k] values[neighbours[n, k], c]      (values [G, C], out [N, C]),
// i.e. the sparse upsampling U (N x G, K non-zeros per row, padded with weight 0) applied in the
// [batch, rows, channels] layout of the face model, without the transposes a sparse-dense matrix product
// needs. The gradient gathers each node's entries through the transposed incidence (no scatter, so it runs
// in parallel and sums in a fixed order). The caller (upsample_nodes_op.cc) validates the inputs (every
// neighbour in [0, G)) and runs (image, block) units; each call is single-threaded and writes only its range.
#ifndef C3DMM_TF_OPS_UPSAMPLE_NODES_CPU_H_
#define C3DMM_TF_OPS_UPSAMPLE_NODES_CPU_H_

#include <cstdint>
#include <vector>

namespace c3dmm {

constexpr int64_t kUpsampleBlock = 1024;  // vertices (forward) or nodes (gradient) per work unit

// The entries e = n K + j of each node, compressed rows: entries[offsets[g] .. offsets[g + 1]) are the
// entries whose neighbour is g, increasing, and vertices[i] = entries[i] / K (their rows).
struct NodeEntries {
  std::vector<int64_t> offsets;   // [G + 1]
  std::vector<int64_t> entries;   // [N K]
  std::vector<int64_t> vertices;  // [N K]
};

// neighbours: [N, K] with every value in [0, G) (validated by the caller).
void BuildNodeEntries(const int32_t* neighbours, int64_t num_vertices, int64_t k, int64_t num_nodes,
                      NodeEntries* index);

// Vertices [begin, end) of one image: out [N, C] from values [G, C].
void UpsampleNodesCpu(const float* values, const int32_t* neighbours, const float* weights, int64_t k,
                      int64_t channels, int64_t begin, int64_t end, float* out);

// Nodes [begin, end) of one image: grad_values[g, c] = sum over the entries e of node g of
// weights[e] grad_out[e / K, c].
void UpsampleNodesGradCpu(const float* grad_out, const float* weights, const NodeEntries& index,
                          int64_t channels, int64_t begin, int64_t end, float* grad_values);

}  // namespace c3dmm

#endif  // C3DMM_TF_OPS_UPSAMPLE_NODES_CPU_H_
