#include "runners/export/onnx_model.hpp"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <limits>
#include <map>
#include <set>

#include "nets/error.hpp"
#include "runners/train/torchvision_names.hpp"
#include "runners/version.hpp"

namespace deeper::runners {

namespace {

using nets::Node;
using nets::Op;

// A tensor of the ONNX graph: its name and rank (4: N x C x H x W, 2: N x features after a
// flatten or a linear layer).
struct Value {
    std::string name;
    int rank = 4;
};

void set_ints(onnx::NodeProto& n, const char* name, const std::vector<std::int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
}
void set_int(onnx::NodeProto& n, const char* name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}
void set_float(onnx::NodeProto& n, const char* name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
}
void set_string(onnx::NodeProto& n, const char* name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
}

class Builder {
public:
    Builder(const nets::Graph& g, const SafeTensors& w, const OnnxOptions& o) : g_(g), w_(w), o_(o) {
        for (const auto& n : g.nodes) has_bn_ = has_bn_ || n.op == Op::batchnorm;
    }

    OnnxModel build() {
        needed_ = needed_nodes();
        for (const auto& n : g_.nodes)
            if (needed_[std::size_t(n.id)]) params_ += n.params, macs_ += n.macs;
        count_consumers();
        auto* graph = model_.mutable_graph();
        graph->set_name(g_.name);
        add_input();
        for (const auto& n : g_.nodes)
            if (needed_[std::size_t(n.id)] && n.op != Op::input) values_[n.id] = emit(n);
        add_output();
        check_weights_used();
        fill_model_fields();
        check(model_);
        OnnxModel m;
        m.nodes = graph->node_size();
        m.initializers = graph->initializer_size();
        m.params = params_;
        m.macs = macs_;
        m.bytes = model_.SerializeAsString();
        return m;
    }

private:
    const nets::Graph& g_;
    const SafeTensors& w_;
    const OnnxOptions& o_;
    onnx::ModelProto model_;
    std::map<int, Value> values_;  // deeper node id -> its ONNX tensor
    std::vector<int> consumers_;   // per node: how many needed nodes read it
    std::set<std::string> used_;   // the weights file's tensors read
    std::set<int> folded_;         // conv nodes whose BN was folded into them
    std::vector<bool> needed_;     // per node: the classifier output depends on it
    std::map<std::string, Value> unsqueezed_;  // a 2-d tensor's 4-d view, made once
    bool has_bn_ = false;
    std::int64_t params_ = 0, macs_ = 0;  // of the inference graph (no auxiliary heads)

    // The nodes the classifier output depends on: auxiliary heads are training's.
    std::vector<bool> needed_nodes() const {
        std::vector<bool> needed(g_.nodes.size(), false);
        needed[std::size_t(g_.outputs.at(0))] = true;
        for (int i = int(g_.nodes.size()) - 1; i >= 0; --i)
            if (needed[std::size_t(i)])
                for (int in : g_.node(i).inputs) needed[std::size_t(in)] = true;
        return needed;
    }

    void count_consumers() {
        consumers_.assign(g_.nodes.size(), 0);
        for (const auto& n : g_.nodes)
            if (needed_[std::size_t(n.id)])
                for (int in : n.inputs) ++consumers_[std::size_t(in)];
    }

    onnx::NodeProto& add_node(const char* op_type, const std::string& name, const std::vector<std::string>& inputs,
                              const std::string& output) {
        auto* n = model_.mutable_graph()->add_node();
        n->set_op_type(op_type);
        n->set_name(name);
        for (const auto& i : inputs) n->add_input(i);
        n->add_output(output);
        return *n;
    }

    void add_tensor_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::int64_t>& dims) {
        v->set_name(name);
        auto* t = v->mutable_type()->mutable_tensor_type();
        t->set_elem_type(onnx::TensorProto::FLOAT);
        auto* shape = t->mutable_shape();
        auto* batch = shape->add_dim();
        if (o_.batch > 0) batch->set_dim_value(o_.batch);
        else batch->set_dim_param("batch");
        for (auto d : dims) shape->add_dim()->set_dim_value(d);
    }

    void add_input() {
        const nets::Shape s = g_.input_shape();
        add_tensor_info(model_.mutable_graph()->add_input(), "input", {s.c, s.h, s.w});
        values_[0] = {"input", 4};
    }

    // The classifier's output as "logits" [batch, classes].
    void add_output() {
        Value v = values_.at(g_.outputs.at(0));
        if (v.rank == 4) v = flatten(v, g_.output().name + ".flatten");
        rename_value(v.name, "logits");
        add_tensor_info(model_.mutable_graph()->add_output(), "logits", {g_.output().out.c});
    }

    void rename_value(const std::string& from, const std::string& to) {
        for (auto& n : *model_.mutable_graph()->mutable_node()) {
            for (auto& s : *n.mutable_input())
                if (s == from) s = to;
            for (auto& s : *n.mutable_output())
                if (s == from) s = to;
        }
    }

    // ---- weights

    std::string initializer_name(const std::string& deeper_name) const {
        if (!o_.net.empty())
            if (auto tv = torchvision_name(o_.net, deeper_name, has_bn_)) return *tv;
        return deeper_name;
    }

    // The node's tensor `suffix` (".weight", ...), checked against the shape the net needs.
    Tensor weight(const Node& n, const std::string& suffix, const std::vector<std::int64_t>& dims) {
        const std::string name = n.name + suffix;
        auto t = find_weights(w_, o_.net, name, &used_);
        if (!t)
            throw InputError(fmt::format("{}: no tensor {} ({} of {}, {}): weights of another net, or other knobs?",
                                         o_.weights_source, name, shape_text(dims), g_.name, nets::op_name(n.op)));
        if (t->shape != dims)
            throw InputError(fmt::format("{}: {} is {}, the net {} needs {}: weights of another net, or other knobs?",
                                         o_.weights_source, name, shape_text(t->shape), g_.name, shape_text(dims)));
        return *t;
    }

    // `renamed`: under torchvision's name where the net has one (not for folded weights, which
    // no torchvision tensor holds).
    std::string add_initializer(const std::string& deeper_name, const Tensor& t, bool renamed = true) {
        auto* init = model_.mutable_graph()->add_initializer();
        const std::string name = renamed ? initializer_name(deeper_name) : deeper_name;
        init->set_name(name);
        init->set_data_type(onnx::TensorProto::FLOAT);
        for (auto d : t.shape) init->add_dims(d);
        init->set_raw_data(std::string(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float)));
        return name;
    }

    std::string add_int64_initializer(const std::string& name, const std::vector<std::int64_t>& v) {
        auto* init = model_.mutable_graph()->add_initializer();
        init->set_name(name);
        init->set_data_type(onnx::TensorProto::INT64);
        init->add_dims(std::int64_t(v.size()));
        for (auto x : v) init->add_int64_data(x);
        return name;
    }

    // Auxiliary heads are not exported, but their weights belong to the net.
    void check_weights_used() {
        for (const auto& n : g_.nodes)
            if (!needed_[std::size_t(n.id)])
                for (const char* s : {".weight", ".bias", ".running_mean", ".running_var"})
                    find_weights(w_, o_.net, n.name + s, &used_);
        if (const auto left = unused_tensors(w_, used_); !left.empty())
            throw InputError(fmt::format("{}: {} tensor(s) the net {} does not use, e.g. {} (weights of another net, or "
                                         "other knobs?)",
                                         o_.weights_source, left.size(), g_.name, left.front()));
    }

    // ---- rank changes

    Value flatten(const Value& v, const std::string& name) {
        set_int(add_node("Flatten", name, {v.name}, name), "axis", 1);
        return {name, 2};
    }
    Value as_4d(const Value& v) {
        if (v.rank == 4) return v;
        if (const auto it = unsqueezed_.find(v.name); it != unsqueezed_.end()) return it->second;
        const std::string name = v.name + ".unsqueeze";
        set_ints(add_node("Unsqueeze", name, {v.name}, name), "axes", {2, 3});
        return unsqueezed_[v.name] = {name, 4};
    }

    Value in(const Node& n, std::size_t i = 0) const { return values_.at(n.inputs.at(i)); }

    // ---- one node each

    Value emit(const Node& n) {
        switch (n.op) {
            case Op::conv: return emit_conv(n);
            case Op::batchnorm: return emit_batchnorm(n);
            case Op::relu: return unary("Relu", n);
            case Op::sigmoid: return unary("Sigmoid", n);
            case Op::tanh: return unary("Tanh", n);
            case Op::relu6: {  // opset 10's Clip: the bounds are attributes
                auto& clip = add_node("Clip", n.name, {in(n).name}, n.name);
                set_float(clip, "min", 0.f);
                set_float(clip, "max", 6.f);
                return {n.name, in(n).rank};
            }
            case Op::swish: {  // x * sigmoid(x): opset 10 has no SiLU
                const std::string gate = n.name + ".sigmoid";
                add_node("Sigmoid", gate, {in(n).name}, gate);
                add_node("Mul", n.name, {in(n).name, gate}, n.name);
                return {n.name, in(n).rank};
            }
            case Op::max_pool: return emit_pool("MaxPool", n);
            case Op::avg_pool: return emit_pool("AveragePool", n);
            case Op::global_avg_pool:
                add_node("GlobalAveragePool", n.name, {as_4d(in(n)).name}, n.name);
                return {n.name, 4};
            case Op::lrn: return emit_lrn(n);
            case Op::linear: return emit_linear(n);
            case Op::dropout:
            case Op::drop_connect: return in(n);  // identity at inference
            case Op::add: return emit_add(n);
            case Op::channel_scale:
                add_node("Mul", n.name, {in(n, 0).name, as_4d(in(n, 1)).name}, n.name);
                return {n.name, 4};
            case Op::concat: return emit_concat(n);
            case Op::flatten: return in(n).rank == 2 ? in(n) : flatten(in(n), n.name);
            case Op::zero_pad_shortcut: return emit_zero_pad(n);
            case Op::input: break;
        }
        throw InputError(fmt::format("export to ONNX: node {} is a {} ({}), which has no ONNX form here", n.name,
                                     nets::op_name(n.op), int(n.op)));
    }

    Value unary(const char* op, const Node& n) {
        add_node(op, n.name, {in(n).name}, n.name);
        return {n.name, in(n).rank};
    }

    // The BN this conv feeds alone, when BN folding is on (nullptr: none).
    const Node* foldable_bn(const Node& conv) const {
        if (!o_.fold_batchnorm || consumers_[std::size_t(conv.id)] != 1 || conv.id == g_.outputs.at(0)) return nullptr;
        for (std::size_t i = std::size_t(conv.id) + 1; i < g_.nodes.size(); ++i) {
            const Node& m = g_.nodes[i];
            if (needed_[i] && std::find(m.inputs.begin(), m.inputs.end(), conv.id) != m.inputs.end())
                return m.op == Op::batchnorm ? &m : nullptr;
        }
        return nullptr;
    }

    Value emit_conv(const Node& n) {
        const auto& a = std::get<nets::ConvAttrs>(n.attrs);
        const Value x = as_4d(in(n));
        const int in_c = g_.node(n.inputs[0]).out.c;
        Tensor w = weight(n, ".weight", {a.out_channels, in_c / a.groups, a.kh, a.kw});
        std::optional<Tensor> b;
        if (a.bias) b = weight(n, ".bias", {a.out_channels});
        std::string out = n.name;
        if (const Node* bn = foldable_bn(n)) {
            fold(*bn, w, b);
            folded_.insert(n.id);
            out = bn->name;
            values_[bn->id] = {out, 4};
        }
        const bool folded = folded_.count(n.id) > 0;
        const std::string suffix = folded ? ".folded_" : ".";
        std::vector<std::string> inputs = {x.name, add_initializer(n.name + suffix + "weight", w, !folded)};
        if (b) inputs.push_back(add_initializer(n.name + suffix + "bias", *b, !folded));
        auto& node = add_node("Conv", n.name, inputs, out);
        set_ints(node, "kernel_shape", {a.kh, a.kw});
        set_ints(node, "strides", {a.stride, a.stride});
        set_ints(node, "pads", {a.pad_t, a.pad_l, a.pad_b, a.pad_r});
        set_ints(node, "dilations", {1, 1});
        set_int(node, "group", a.groups);
        return {out, 4};
    }

    // w' = w * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * that + beta: in
    // double, then rounded once.
    void fold(const Node& bn, Tensor& w, std::optional<Tensor>& b) {
        const int c = bn.out.c;
        const float eps = std::get<nets::BatchNormAttrs>(bn.attrs).eps;
        const Tensor gamma = weight(bn, ".weight", {c}), beta = weight(bn, ".bias", {c});
        const Tensor mean = weight(bn, ".running_mean", {c}), var = weight(bn, ".running_var", {c});
        if (!b) b = Tensor{{c}, std::vector<float>(std::size_t(c), 0.f), false};
        const std::size_t per = w.data.size() / std::size_t(c);
        for (std::size_t o = 0; o < std::size_t(c); ++o) {
            const double s = double(gamma.data[o]) / std::sqrt(double(var.data[o]) + double(eps));
            for (std::size_t i = 0; i < per; ++i) w.data[o * per + i] = float(double(w.data[o * per + i]) * s);
            b->data[o] = float((double(b->data[o]) - double(mean.data[o])) * s + double(beta.data[o]));
        }
    }

    Value emit_batchnorm(const Node& n) {
        if (!n.inputs.empty() && folded_.count(n.inputs[0])) return values_.at(n.id);  // folded into its conv
        const int c = n.out.c;
        std::vector<std::string> inputs = {in(n).name};
        for (const char* s : {".weight", ".bias", ".running_mean", ".running_var"})
            inputs.push_back(add_initializer(n.name + s, weight(n, s, {c})));
        set_float(add_node("BatchNormalization", n.name, inputs, n.name), "epsilon",
                  std::get<nets::BatchNormAttrs>(n.attrs).eps);
        return {n.name, in(n).rank};
    }

    Value emit_pool(const char* op, const Node& n) {
        const auto& a = std::get<nets::PoolAttrs>(n.attrs);
        auto& node = add_node(op, n.name, {as_4d(in(n)).name}, n.name);
        set_ints(node, "kernel_shape", {a.kh, a.kw});
        set_ints(node, "strides", {a.stride, a.stride});
        set_ints(node, "pads", {a.pad_t, a.pad_l, a.pad_b, a.pad_r});
        if (n.op == Op::avg_pool) set_int(node, "count_include_pad", a.exclude_pad ? 0 : 1);
        return {n.name, 4};
    }

    Value emit_lrn(const Node& n) {
        const auto& a = std::get<nets::LrnAttrs>(n.attrs);
        auto& node = add_node("LRN", n.name, {as_4d(in(n)).name}, n.name);
        set_int(node, "size", a.size);
        set_float(node, "alpha", a.alpha);  // both divide alpha by size, as oneDNN does
        set_float(node, "beta", a.beta);
        set_float(node, "bias", a.k);
        return {n.name, 4};
    }

    Value emit_linear(const Node& n) {
        const auto& a = std::get<nets::LinearAttrs>(n.attrs);
        Value x = in(n);
        if (x.rank == 4) x = flatten(x, n.name + ".flatten");
        const std::int64_t features = g_.node(n.inputs[0]).out.elems();
        std::vector<std::string> inputs = {x.name, add_initializer(n.name + ".weight",
                                                                   weight(n, ".weight", {a.out_features, features}))};
        // opset 10's Gemm needs its C: a linear layer without bias gets zeros
        const Tensor bias = a.bias ? weight(n, ".bias", {a.out_features})
                                   : Tensor{{a.out_features}, std::vector<float>(std::size_t(a.out_features), 0.f), false};
        inputs.push_back(add_initializer(n.name + ".bias", bias));
        auto& node = add_node("Gemm", n.name, inputs, n.name);
        set_int(node, "transB", 1);
        return {n.name, 2};
    }

    Value emit_add(const Node& n) {
        std::vector<std::string> inputs;
        int rank = 4;
        for (std::size_t i = 0; i < n.inputs.size(); ++i) inputs.push_back(in(n, i).name), rank = in(n, i).rank;
        add_node(inputs.size() == 2 ? "Add" : "Sum", n.name, inputs, n.name);
        return {n.name, rank};
    }

    Value emit_concat(const Node& n) {
        std::vector<std::string> inputs;
        for (std::size_t i = 0; i < n.inputs.size(); ++i) inputs.push_back(as_4d(in(n, i)).name);
        set_int(add_node("Concat", n.name, inputs, n.name), "axis", 1);
        return {n.name, 4};
    }

    // He et al.'s option A: every stride-th pixel (Slice with steps), new channels zero (Pad).
    Value emit_zero_pad(const Node& n) {
        const auto& a = std::get<nets::ZeroPadAttrs>(n.attrs);
        const Value x = as_4d(in(n));
        std::string sub = x.name;
        if (a.stride > 1) {
            sub = n.name + ".subsample";
            const std::int64_t end = std::numeric_limits<std::int64_t>::max();
            add_node("Slice", sub,
                     {x.name, add_int64_initializer(sub + ".starts", {0, 0}),
                      add_int64_initializer(sub + ".ends", {end, end}), add_int64_initializer(sub + ".axes", {2, 3}),
                      add_int64_initializer(sub + ".steps", {a.stride, a.stride})},
                     sub);
        }
        const int extra = a.out_channels - g_.node(n.inputs[0]).out.c;
        auto& pad = add_node("Pad", n.name, {sub}, n.name);
        set_string(pad, "mode", "constant");
        set_ints(pad, "pads", {0, 0, 0, 0, 0, extra, 0, 0});
        set_float(pad, "value", 0.f);
        return {n.name, 4};
    }

    // ---- the model

    void fill_model_fields() {
        model_.set_ir_version(5);  // ONNX 1.5, the release of opset 10
        model_.set_producer_name("deeper");
        model_.set_producer_version(kVersion);
        auto* opset = model_.add_opset_import();
        opset->set_domain("");
        opset->set_version(kOnnxOpset);
        const nets::Shape s = g_.input_shape();
        model_.mutable_graph()->set_doc_string(
            fmt::format("{}: {} params, {} MACs per image at {}x{}x{}, weights from {}", g_.name, params_, macs_, s.c,
                        s.h, s.w, o_.weights_source));
        auto add_meta = [&](const std::string& k, const std::string& v) {
            auto* p = model_.add_metadata_props();
            p->set_key(k);
            p->set_value(v);
        };
        add_meta("deeper.net", g_.name);
        add_meta("deeper.params", std::to_string(params_));
        add_meta("deeper.macs", std::to_string(macs_));
        add_meta("deeper.input", nets::shape_text(s));
        add_meta("deeper.weights", o_.weights_source);
        add_meta("deeper.batchnorm", o_.fold_batchnorm ? "folded" : "kept");
        for (const auto& [k, v] : o_.metadata) add_meta(k, v);
    }

    static void check(const onnx::ModelProto& m) {
        try {
            onnx::checker::check_model(m);
            onnx::ModelProto inferred = m;
            onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                               onnx::ShapeInferenceOptions(true, 1, false));
        } catch (const std::exception& e) {
            throw RunError(fmt::format("export to ONNX: the ONNX checker refuses the model built: {}", e.what()));
        }
    }
};

}  // namespace

OnnxModel onnx_model(const nets::Graph& g, const SafeTensors& weights, const OnnxOptions& o) {
    return Builder(g, weights, o).build();
}

}  // namespace deeper::runners
