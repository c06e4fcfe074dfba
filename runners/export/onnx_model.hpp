#pragma once
// A net's inference graph as an ONNX model, built through the ONNX library's own classes
// (onnx_proto) and checked by its checker and shape inference before it is returned.
//
// Opset 10 (IR version 5): the newest opset whose forms OpenCV 4.6's importer reads for every op
// here (opset 11 moved Clip's min and max, ReLU6's bounds, into inputs, which it refuses), and
// one that onnxruntime, OpenVINO and TensorRT import. Input "input" [batch, C, H, W], output
// "logits" [batch, classes]; the batch is dynamic unless fixed (OpenCV 4.6 needs it fixed to
// broadcast squeeze-and-excitation's channel scale). ONNX node names are deeper's; initializers
// take torchvision's state_dict names where the zoo net has them, deeper's otherwise. What only
// training uses (dropout, drop-connect, auxiliary heads) is left out.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nets/graph.hpp"
#include "runners/train/safetensors.hpp"

namespace deeper::runners {

inline constexpr int kOnnxOpset = 10;

struct OnnxOptions {
    std::string net;              // the zoo name, for torchvision's names ("" for a net file)
    std::string weights_source;   // where the weights come from, for the metadata and messages
    int batch = 0;                // 0: dynamic
    bool fold_batchnorm = false;  // a BN whose input is a conv used only by it, folded into the conv
    std::vector<std::pair<std::string, std::string>> metadata;  // further metadata_props
};

struct OnnxModel {
    std::string bytes;  // the serialized ModelProto
    int nodes = 0, initializers = 0;
    std::int64_t params = 0, macs = 0;  // of what was exported: the net without auxiliary heads
};

// Throws InputError naming the node and op for a node ONNX cannot express, and for weights
// missing, mis-shaped or left over (`weights` read as find_weights reads them: deeper's names
// or torchvision's); RunError if the ONNX checker refuses what was built.
OnnxModel onnx_model(const nets::Graph& g, const SafeTensors& weights, const OnnxOptions& o);

}  // namespace deeper::runners
