#pragma once
// A network as a graph of nodes in topological order, with shapes inferred as it is built.
// Shapes are per sample (C, H, W): the batch is the engine's business, not the graph's.
// Nothing here knows about oneDNN, threads or files.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace deeper::nets {

struct Shape {
    int c = 0, h = 0, w = 0;
    std::int64_t elems() const { return std::int64_t(c) * h * w; }
    bool operator==(const Shape&) const = default;
};

// "64x8x8": channels x height x width, as errors and tables print a shape.
std::string shape_text(const Shape& s);

enum class Op {
    input,
    conv,
    batchnorm,
    relu,
    relu6,
    swish,
    sigmoid,
    tanh,
    max_pool,
    avg_pool,
    global_avg_pool,
    lrn,
    linear,
    dropout,
    drop_connect,
    add,
    channel_scale,  // x (C,H,W) * s (C,1,1): the excitation of squeeze-and-excitation
    concat,         // along channels
    flatten,        // (C,H,W) -> (C*H*W,1,1)
    zero_pad_shortcut,  // option-A shortcut: subsample by stride, zero-pad channels
};

const char* op_name(Op op);

struct ConvAttrs {
    int out_channels = 0, kh = 1, kw = 1, stride = 1, pad_t = 0, pad_l = 0, pad_b = 0,
        pad_r = 0, groups = 1;
    bool bias = false;
};
struct PoolAttrs {
    int kh = 2, kw = 2, stride = 2, pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
    bool exclude_pad = true;  // avg pool: divide by the number of real (unpadded) inputs
};
struct LrnAttrs {
    int size = 5;
    float alpha = 1e-4f, beta = 0.75f, k = 2.0f;  // AlexNet's constants
};
struct LinearAttrs {
    int out_features = 0;
    bool bias = true;
};
struct BatchNormAttrs {
    float eps = 1e-5f, momentum = 0.1f;
    bool zero_scale = false;  // the scale starts at 0: a residual branch's last BN (zero_init_residual)
};
struct DropAttrs {
    float rate = 0.f;  // dropout: element drop probability; drop-connect: sample drop probability
};
struct ZeroPadAttrs {
    int out_channels = 0, stride = 1;
};
struct NoAttrs {};

using Attrs = std::variant<NoAttrs, ConvAttrs, PoolAttrs, LrnAttrs, LinearAttrs, BatchNormAttrs,
                           DropAttrs, ZeroPadAttrs>;

struct Node {
    int id = -1;
    std::string name;  // stable and readable: "stage2.block1.conv1"
    Op op = Op::input;
    std::vector<int> inputs;
    Shape out;
    Attrs attrs;

    std::int64_t params = 0;  // weights, biases, BN scale/shift (not running statistics)
    std::int64_t macs = 0;    // multiply-accumulates of conv and linear; FLOPs = 2 * MACs
};

class Graph {
public:
    std::string name;
    std::vector<Node> nodes;   // topological order: inputs of a node come before it
    std::vector<int> outputs;  // outputs[0] is the classifier; further ones are auxiliary heads
    std::vector<float> output_loss_weights;

    const Node& node(int id) const { return nodes.at(id); }
    const Node& output() const { return nodes.at(outputs.at(0)); }
    Shape input_shape() const { return nodes.at(0).out; }
    int find(const std::string& node_name) const;  // -1 when absent

    std::int64_t total_params() const;
    std::int64_t total_macs() const;
};

}  // namespace deeper::nets
