#include "runners/engine/compiled_net.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "runners/engine/layout.hpp"
#include "runners/memory_budget.hpp"

namespace deeper::runners {

using dnnl::primitive;

bool frozen_by(const std::string& name, const std::vector<std::string>& frozen) {
    for (const auto& p : frozen)
        if (name.rfind(p, 0) == 0 && (name.size() == p.size() || name[p.size()] == '.' || p.back() == '.'))
            return true;
    return false;
}

struct CompiledNet::Impl {
    const nets::Graph& g;
    CompileOptions opt;
    ParamStore& store;
    const dnnl::engine& eng;
    dnnl::stream& s;
    int F = 0;  // steps: forward of node k = k, loss = F, backward of node k = 2F - k

    std::vector<std::unique_ptr<Layer>> layers;  // by node id; [0] (the input) is empty
    std::vector<std::unique_ptr<LayerContext>> contexts;
    std::vector<std::vector<int>> consumers;     // node -> consumer node per use
    std::vector<memory::desc> act_desc;
    std::vector<bool> needs_grad, is_output;

    struct Def {
        std::vector<memory::desc> diff_src_desc;
        std::vector<bool> need_in_bwd;
        bool need_out_bwd = false;
        std::vector<memory::desc> buffer_desc;
        std::vector<LayerContext::Life> buffer_life;
        std::vector<int> buffer_plan;  // plan ids, after planning
    };
    std::vector<Def> defs;

    MemoryPlan plan;
    std::vector<int> summer;                   // add node -> the layer writing its sum, or -1
    std::vector<int> act_group, grad_group;    // node -> representative node
    std::vector<int> act_plan, grad_plan;      // representative -> plan id (-1: external)
    AlignedFloats arena, scratchpad;
    std::size_t scratch_bytes = 0;

    struct Sink {
        bool active = false, aliased = false, first = false;
        int temp_plan = -1;
        int taken_by = -1;  // the layer that adds this part in its backward (grad_part), or -1
        memory write;  // where the layer writes the input's gradient
        primitive post;
        Args post_args;
        bool has_post = false;
    };
    std::vector<std::vector<Sink>> sinks;
    std::vector<std::pair<int, int>> part_sink;  // node -> the sink (node, input) it takes, or (-1, -1)

    struct Conversion {
        int param;
        memory::desc want;
        AlignedFloats storage, plain_storage;
        memory from, to, plain;  // plain: a stop on the way when no direct reorder exists
        primitive prim, prim2;
        void run(dnnl::stream& s) {
            if (plain) {
                prim.execute(s, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, plain}});
                prim2.execute(s, {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, to}});
            } else {
                prim.execute(s, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
            }
        }
    };
    std::vector<std::unique_ptr<Conversion>> conversions;
    std::uint64_t converted_version = 0;

    struct GradOut {
        AlignedFloats storage;
        memory from, to;
        primitive prim;
    };
    std::vector<std::vector<std::unique_ptr<GradOut>>> grad_outs;  // per node

    std::vector<primitive> out_copy, grad_in_copy;
    std::vector<Args> out_copy_args, grad_in_copy_args;
    std::vector<int> bwd_runs;
    int current = -1;

    Impl(const nets::Graph& graph, const CompileOptions& o, ParamStore& st, const dnnl::engine& e,
         dnnl::stream& strm)
        : g(graph), opt(o), store(st), eng(e), s(strm) {}

    int fwd_step(int k) const { return k; }
    int bwd_step(int k) const { return 2 * F - k; }

    bool frozen(const std::string& name) const { return frozen_by(name, opt.frozen); }

    char* ptr(int plan_id) { return reinterpret_cast<char*>(arena.data()) + plan.offset(plan_id); }
    float* act_ptr(int node, CompiledNet& net);
    float* grad_ptr(int node, CompiledNet& net);

    // The compile passes, in order (CompiledNet's constructor runs them).
    void analyze_gradients();
    void define_layers(CompiledNet& net);
    void plan_residual_sums();
    std::vector<int> last_reads() const;
    void plan_activations(const std::vector<int>& last_read);
    void plan_gradients();
    void share_shortcut_gradients();
    void order_gradient_writes();
    int grad_part_taker(int k, int x) const;
    void plan_layer_buffers();
    void bind_sinks(CompiledNet& net);
    void bind_layers(CompiledNet& net);
};

// ---- the context a layer sees ----

class NodeContext final : public LayerContext {
public:
    NodeContext(CompiledNet& net, CompiledNet::Impl& m, int k) : net_(net), m_(m), k_(k) {}

    const dnnl::engine& eng() const override { return m_.eng; }
    bool training() const override { return m_.opt.training; }
    bool plain_layouts() const override { return m_.opt.plain_layouts; }
    ConvAlgorithm conv_algorithm() const override { return m_.opt.conv_algorithm; }
    Precision precision() const override { return m_.opt.precision; }
    bool keep_fp32_where_faster() const override { return m_.opt.keep_fp32_where_faster; }
    bool crop_kernels() const override { return m_.opt.crop_kernels; }
    bool gemm_convs() const override { return m_.opt.gemm_convs; }
    const ConvForm* conv_form() const override {
        if (m_.opt.conv_algorithm != ConvAlgorithm::automatic) return nullptr;
        auto it = m_.opt.conv_plan.find(node().name);
        return it == m_.opt.conv_plan.end() ? nullptr : &it->second;
    }
    bool own_bn_kernels() const override {
        if (m_.opt.conv_algorithm != ConvAlgorithm::automatic || node().inputs.empty()) return false;
        auto it = m_.opt.conv_plan.find(m_.g.nodes[node().inputs[0]].name);
        return it != m_.opt.conv_plan.end() && it->second.own_bn;
    }
    bool run_by_producer() const override {
        if (node().inputs.empty()) return false;
        const auto& producer = m_.layers[node().inputs[0]];
        return producer && producer->runs_its_consumer;
    }
    bool summed_by_producer() const override { return m_.summer[k_] >= 0; }
    int batch() const override { return m_.opt.batch; }
    const nets::Node& node() const override { return m_.g.nodes[k_]; }
    const nets::Graph& graph() const override { return m_.g; }
    int inputs() const override { return int(node().inputs.size()); }
    const memory::desc& in_desc(int i) const override { return m_.act_desc[node().inputs.at(i)]; }
    bool input_needs_grad(int i) const override {
        return m_.opt.training && m_.needs_grad[node().inputs.at(i)];
    }
    bool needs_backward() const override { return m_.opt.training && m_.needs_grad[k_]; }

    int param(ParamInfo info) override {
        info.trainable = m_.opt.training && !m_.frozen(node().name);
        int id = m_.store.find(info.name);
        if (id < 0) return m_.store.add(std::move(info));
        if (m_.store.info(id).dims != info.dims)
            throw std::logic_error("parameter " + info.name + " changed shape between compiles");
        return id;
    }
    bool trainable(int param_id) const override {
        return m_.opt.training && m_.store.info(param_id).trainable;
    }
    int buffer(const memory::desc& d, Life life) override {
        auto& def = m_.defs[k_];
        def.buffer_desc.push_back(d);
        def.buffer_life.push_back(life);
        return int(def.buffer_desc.size()) - 1;
    }
    void need_input_in_backward(int i) override { m_.defs[k_].need_in_bwd.at(i) = true; }
    void need_output_in_backward() override { m_.defs[k_].need_out_bwd = true; }
    void set_diff_src_desc(int i, const memory::desc& d) override {
        m_.defs[k_].diff_src_desc.at(i) = d;
    }
    dnnl::primitive_attr attr() const override {
        dnnl::primitive_attr a;
        a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        return a;
    }
    void scratchpad(const memory::desc& d) override {
        m_.scratch_bytes = std::max(m_.scratch_bytes, d.get_size());
    }

    memory input(int i) override {
        int in = node().inputs.at(i);
        return memory(m_.act_desc[in], m_.eng, m_.act_ptr(in, net_));
    }
    memory output() override { return memory(m_.act_desc[k_], m_.eng, m_.act_ptr(k_, net_)); }
    memory diff_dst() override { return memory(m_.act_desc[k_], m_.eng, m_.grad_ptr(k_, net_)); }
    memory diff_src(int i) override {
        auto& sink = m_.sinks[k_].at(i);
        if (!sink.active) throw std::logic_error("diff_src of an input that needs no gradient");
        return sink.write;
    }
    std::optional<ResidualSum> residual_sum() override {
        for (int add : m_.consumers[k_])
            if (m_.summer[add] == k_) {
                const int other = m_.g.nodes[add].inputs[1];
                return ResidualSum{memory(m_.act_desc[other], m_.eng, m_.act_ptr(other, net_)),
                                   m_.layers[add]->runs_its_consumer};
            }
        return std::nullopt;
    }
    std::optional<memory> grad_part() override {
        const auto [k, i] = m_.part_sink[k_];
        if (k < 0) return std::nullopt;
        return m_.sinks[k][i].write;
    }
    memory buffer_memory(int id, const memory::desc& d) override {
        return memory(d, m_.eng, m_.ptr(m_.defs[k_].buffer_plan.at(id)));
    }
    memory scratchpad_memory() override {
        return memory(memory::desc({memory::dim(std::max<std::size_t>(m_.scratch_bytes, 1))},
                                   memory::data_type::u8, memory::format_tag::a),
                      m_.eng, m_.scratchpad.data());
    }
    memory weights(int id, const memory::desc& want) override {
        const ParamInfo& p = m_.store.info(id);
        if (want == p.internal) return memory(want, m_.eng, m_.store.data(id));
        for (auto& c : m_.conversions)
            if (c->param == id && c->want == want) return c->to;
        auto c = std::make_unique<CompiledNet::Impl::Conversion>();
        c->param = id;
        c->want = want;
        c->storage.resize(floats(want));
        c->from = memory(p.internal, m_.eng, m_.store.data(id));
        c->to = memory(want, m_.eng, c->storage.data());
        dnnl::reorder::primitive_desc direct(m_.eng, p.internal, m_.eng, want, dnnl::primitive_attr(), true);
        if (direct) {
            c->prim = dnnl::reorder(direct);
        } else {  // e.g. into Winograd's inference weights format, reachable from plain only
            c->plain_storage.resize(floats(p.plain));
            c->plain = memory(p.plain, m_.eng, c->plain_storage.data());
            c->prim = dnnl::reorder(c->from, c->plain);
            c->prim2 = dnnl::reorder(c->plain, c->to);
        }
        m_.conversions.push_back(std::move(c));
        m_.converted_version = 0;
        return m_.conversions.back()->to;
    }
    memory param_memory(int id) override {
        return memory(m_.store.info(id).internal, m_.eng, m_.store.data(id));
    }
    memory grad_memory(int id, const memory::desc& have) override {
        const ParamInfo& p = m_.store.info(id);
        memory target(p.internal, m_.eng, m_.store.grad(id));
        if (have == p.internal) return target;
        auto o = std::make_unique<CompiledNet::Impl::GradOut>();
        o->storage.resize(floats(have));
        o->from = memory(have, m_.eng, o->storage.data());
        o->to = target;
        o->prim = dnnl::reorder(o->from, o->to);
        m_.grad_outs[k_].push_back(std::move(o));
        return m_.grad_outs[k_].back()->from;
    }
    void finish_grads() override {
        for (auto& o : m_.grad_outs[k_])
            o->prim.execute(m_.s, {{DNNL_ARG_FROM, o->from}, {DNNL_ARG_TO, o->to}});
    }
    dnnl::stream& stream() override { return m_.s; }
    std::uint64_t step() const override { return net_.step(); }
    std::uint64_t seed() const override { return m_.opt.seed; }
    ParamStore& store() override { return m_.store; }
    void count_backward_primitive() override { ++m_.bwd_runs[k_]; }

private:
    CompiledNet& net_;
    CompiledNet::Impl& m_;
    int k_;
};

float* CompiledNet::Impl::act_ptr(int node, CompiledNet& net) {
    const int r = act_group[node];
    if (act_plan[r] < 0) return net.input_.data();
    return reinterpret_cast<float*>(ptr(act_plan[r]));
}

float* CompiledNet::Impl::grad_ptr(int node, CompiledNet& net) {
    const int r = grad_group[node];
    if (r < 0) throw std::logic_error("gradient of a node that needs none");
    if (grad_plan[r] < 0) return net.input_grad_.data();
    return reinterpret_cast<float*>(ptr(grad_plan[r]));
}

// ---- compile ----

std::vector<bool> nodes_needing_gradient(const nets::Graph& g, const std::vector<std::string>& frozen,
                                         bool input_grad) {
    const int F = int(g.nodes.size());
    std::vector<bool> reaches(F, false), needs(F, false);
    for (int out : g.outputs) reaches[out] = true;
    for (int k = F - 1; k >= 0; --k)
        if (reaches[k])
            for (int i : g.nodes[k].inputs) reaches[i] = true;
    needs[0] = input_grad;
    for (int k = 1; k < F; ++k) {
        const auto& n = g.nodes[k];
        const bool has_params = n.op == nets::Op::conv || n.op == nets::Op::linear || n.op == nets::Op::batchnorm;
        bool ng = has_params && !frozen_by(n.name, frozen);
        for (int i : n.inputs) ng = ng || needs[i];
        needs[k] = ng && reaches[k];
    }
    return needs;
}

void CompiledNet::Impl::analyze_gradients() {
    consumers.assign(F, {});
    for (const auto& n : g.nodes)
        for (int i : n.inputs) consumers[i].push_back(n.id);
    is_output.assign(F, false);
    for (int out : g.outputs) is_output[out] = true;
    needs_grad = opt.training ? nodes_needing_gradient(g, opt.frozen, opt.input_grad) : std::vector<bool>(F, false);
}

// define: each layer's primitive descriptors, output layout and memory needs
void CompiledNet::Impl::define_layers(CompiledNet& net) {
    layers.resize(F);
    contexts.resize(F);
    defs.assign(F, {});
    grad_outs.resize(F);
    bwd_runs.assign(F, 0);
    for (int k = 1; k < F; ++k) {
        const auto& n = g.nodes[k];
        layers[k] = make_layer(n, g, opt.fuse_bn_relu);
        contexts[k] = std::make_unique<NodeContext>(net, *this, k);
        auto& def = defs[k];
        def.need_in_bwd.assign(n.inputs.size(), false);
        for (int i : n.inputs) def.diff_src_desc.push_back(act_desc[i]);
        try {
            act_desc[k] = layers[k]->define(*contexts[k]);
        } catch (const dnnl::error& e) {
            throw std::runtime_error(fmt::format("{}: oneDNN cannot compile {} ({}): {}", g.name,
                                                 n.name, nets::op_name(n.op), e.what()));
        }
    }
}

// Residual sums written by the layer before the add: where the add's input 0 can take them
// (Layer::can_sum_into_output), reads nothing else, and the other input is in its layout and
// computed before it (not a shortcut built after the branch, as a zero-pad may be). Not without
// memory sharing: the sum would overwrite the input 0 that read_node() should see.
void CompiledNet::Impl::plan_residual_sums() {
    summer.assign(F, -1);
    if (!opt.share_memory) return;
    for (int k = 1; k < F; ++k) {
        const auto& n = g.nodes[k];
        if (n.op != nets::Op::add || n.inputs.size() != 2) continue;
        const int p = n.inputs[0], other = n.inputs[1];
        if (p == 0 || !layers[p]->can_sum_into_output || consumers[p].size() != 1 || is_output[p] ||
            other >= p || act_desc[other] != act_desc[p])
            continue;
        summer[k] = p;
    }
}

// The last step that reads each activation (forward, or backward when a layer keeps it).
std::vector<int> CompiledNet::Impl::last_reads() const {
    std::vector<int> last_read(F);
    for (int k = 0; k < F; ++k) {
        last_read[k] = fwd_step(k);
        if (defs[k].need_out_bwd) last_read[k] = std::max(last_read[k], bwd_step(k));
        if (is_output[k]) last_read[k] = std::max(last_read[k], F);
    }
    for (int k = 1; k < F; ++k) {
        const auto& n = g.nodes[k];
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            int x = n.inputs[i];
            last_read[x] = std::max(last_read[x], fwd_step(k));
            if (defs[k].need_in_bwd[i]) last_read[x] = std::max(last_read[x], bwd_step(k));
        }
    }
    return last_read;
}

// activations: identities alias their input, in-place layers overwrite it when no one
// reads it afterwards, an add whose sum its input 0's layer writes shares that memory (the add
// is that output's only reader, and a batch norm on the engine's kernels keeps no output for
// its backward)
void CompiledNet::Impl::plan_activations(const std::vector<int>& last_read) {
    act_group.resize(F);
    std::vector<std::vector<int>> members(F);
    for (int k = 0; k < F; ++k) {
        act_group[k] = k;
        if (k > 0) {
            const Layer& L = *layers[k];
            const int x = g.nodes[k].inputs.empty() ? -1 : g.nodes[k].inputs[0];
            const int r = x >= 0 ? act_group[x] : -1;
            if (L.identity || summer[k] >= 0) {
                act_group[k] = r;
            } else if (L.inplace_ok && r > 0 && consumers[x].size() == 1 &&
                       act_desc[x] == act_desc[k]) {
                bool safe = true;
                for (int t : members[r]) safe = safe && last_read[t] <= fwd_step(k);
                if (safe) act_group[k] = r;
            }
        }
        members[act_group[k]].push_back(k);
    }
    act_plan.assign(F, -1);
    for (int r = 1; r < F; ++r) {
        if (members[r].empty() || act_group[r] != r) continue;
        int first = F, last = 0;
        for (int t : members[r]) {
            first = std::min(first, fwd_step(t));
            last = std::max(last, last_read[t]);
        }
        act_plan[r] = plan.add(act_desc[r].get_size(), first, last);
    }
}

// gradients: pass-through layers share their input's gradient buffer when they are its
// only consumer; every other write goes through a sink (direct, reorder, or accumulate)
void CompiledNet::Impl::plan_gradients() {
    grad_group.assign(F, -1);
    sinks.assign(F, {});
    for (int k = 0; k < F; ++k) sinks[k].resize(g.nodes[k].inputs.size());
    for (int k = F - 1; k >= 0; --k) {
        if (!needs_grad[k]) continue;
        if (grad_group[k] < 0) grad_group[k] = k;
        if (k == 0 || !layers[k]->passes_grad) continue;
        const auto& n = g.nodes[k];
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            int x = n.inputs[i];
            if (!needs_grad[x] || x == 0 || consumers[x].size() != 1 || is_output[x] ||
                act_desc[x] != act_desc[k])
                continue;
            grad_group[x] = grad_group[k];
            sinks[k][i].aliased = true;
        }
    }
    if (opt.share_memory) share_shortcut_gradients();
    std::vector<std::vector<int>> grad_members(F);
    for (int k = 0; k < F; ++k)
        if (grad_group[k] >= 0) grad_members[grad_group[k]].push_back(k);
    grad_plan.assign(F, -1);
    for (int r = 1; r < F; ++r) {
        if (grad_members[r].empty()) continue;
        int first = 2 * F, last = 0;
        for (int t : grad_members[r]) {
            last = std::max(last, bwd_step(t));
            if (is_output[t]) first = std::min(first, F);
            for (int c : consumers[t]) first = std::min(first, bwd_step(c));
        }
        grad_plan[r] = plan.add(act_desc[r].get_size(), std::min(first, last), last);
    }
}

// A pass-through layer's input that other layers read too (a residual block's shortcut, which
// also feeds the block's first conv) shares the layer's gradient buffer as well when that layer
// is its last reader and every read of the buffer is done before the first of the others adds
// its part: the add's gradient is then not copied to the shortcut's before the sum.
void CompiledNet::Impl::share_shortcut_gradients() {
    for (int k = F - 1; k >= 1; --k) {
        if (!needs_grad[k] || !layers[k]->passes_grad) continue;
        const auto& n = g.nodes[k];
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            const int x = n.inputs[i];
            if (sinks[k][i].aliased || !needs_grad[x] || x == 0 || is_output[x] || act_desc[x] != act_desc[k])
                continue;
            const auto& readers = consumers[x];
            if (readers.back() != k || std::count(readers.begin(), readers.end(), k) != 1) continue;
            const int group = grad_group[k], own = grad_group[x];
            int last_read = 0, first_add = 2 * F + 1;
            for (int t = 0; t < F; ++t)
                if (grad_group[t] == group) last_read = std::max(last_read, bwd_step(t));
            for (int c : readers)
                if (c != k) first_add = std::min(first_add, bwd_step(c));
            if (last_read >= first_add) continue;
            for (int t = 0; t < F; ++t)
                if (grad_group[t] == own) grad_group[t] = group;
            sinks[k][i].aliased = true;
        }
    }
}

// The layer that can add, in its own backward, the part of x's gradient node k writes last
// (Layer::can_take_grad_part): x's producer, through identities, when x's gradient is its
// output's and nothing runs between k's backward and its own (identities with shared
// gradients only), so the part still arrives before anything reads the sum. -1: none.
int CompiledNet::Impl::grad_part_taker(int k, int x) const {
    int a = x;
    while (a > 0 && layers[a]->identity) a = g.nodes[a].inputs[0];
    if (a <= 0 || !layers[a]->can_take_grad_part || part_sink[a].first >= 0 || grad_group[a] != grad_group[x])
        return -1;
    for (int t = a + 1; t < k; ++t) {
        if (!needs_grad[t]) continue;
        if (!layers[t]->identity || is_output[t]) return -1;
        const auto& inputs = g.nodes[t].inputs;
        for (size_t j = 0; j < inputs.size(); ++j)
            if (needs_grad[inputs[j]] && !sinks[t][j].aliased) return -1;
    }
    return a;
}

// order the writers of each gradient buffer: the first one overwrites, the rest accumulate
// (the last part of a ReLU'd add's output gradient in that add's backward, where it can)
void CompiledNet::Impl::order_gradient_writes() {
    part_sink.assign(F, {-1, -1});
    std::vector<bool> written(F, false);
    for (int out : g.outputs)
        if (needs_grad[out]) written[grad_group[out]] = true;
    for (int k = F - 1; k >= 1; --k) {
        if (!needs_grad[k]) continue;
        const auto& n = g.nodes[k];
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            int x = n.inputs[i];
            auto& sink = sinks[k][i];
            if (!needs_grad[x] || sink.aliased) continue;
            sink.active = true;
            const int r = grad_group[x];
            sink.first = !written[r];
            written[r] = true;
            const bool direct = sink.first && !layers[k]->passes_grad &&
                                defs[k].diff_src_desc[i] == act_desc[x];
            if (direct || layers[k]->passes_grad) continue;
            const int taker = !sink.first && defs[k].diff_src_desc[i] == act_desc[x]
                                  ? grad_part_taker(k, x)
                                  : -1;
            if (taker >= 0) {
                sink.taken_by = taker;
                part_sink[taker] = {k, int(i)};
            }
            sink.temp_plan = plan.add(defs[k].diff_src_desc[i].get_size(), bwd_step(k),
                                      bwd_step(taker >= 0 ? taker : k));
        }
    }
}

// the layers' own buffers
void CompiledNet::Impl::plan_layer_buffers() {
    for (int k = 1; k < F; ++k) {
        auto& def = defs[k];
        for (size_t b = 0; b < def.buffer_desc.size(); ++b) {
            int first = fwd_step(k), last = fwd_step(k);
            switch (def.buffer_life[b]) {
                case LayerContext::Life::fwd: break;
                case LayerContext::Life::fwd_to_bwd: last = bwd_step(k); break;
                case LayerContext::Life::bwd: first = last = bwd_step(k); break;
            }
            def.buffer_plan.push_back(plan.add(def.buffer_desc[b].get_size(), first, last));
        }
    }
}

// sinks' memories and their reorders (with a sum post-op when accumulating)
void CompiledNet::Impl::bind_sinks(CompiledNet& net) {
    for (int k = 1; k < F; ++k) {
        const auto& n = g.nodes[k];
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            auto& sink = sinks[k][i];
            if (!sink.active) continue;
            const int x = n.inputs[i];
            memory target(act_desc[x], eng, grad_ptr(x, net));
            memory from;
            if (layers[k]->passes_grad) {
                from = memory(act_desc[k], eng, grad_ptr(k, net));
            } else if (sink.temp_plan >= 0) {
                from = memory(defs[k].diff_src_desc[i], eng, ptr(sink.temp_plan));
                sink.write = from;
                if (sink.taken_by >= 0) continue;  // added by that layer (grad_part)
            } else {
                sink.write = target;
                continue;
            }
            dnnl::primitive_attr attr;
            if (!sink.first) {
                dnnl::post_ops po;
                po.append_sum(1.f);
                attr.set_post_ops(po);
            }
            sink.post = dnnl::reorder(dnnl::reorder::primitive_desc(eng, from.get_desc(), eng,
                                                                    target.get_desc(), attr));
            sink.post_args = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, target}};
            sink.has_post = true;
        }
    }
}

// Each layer makes its primitives on the placed memory.
void CompiledNet::Impl::bind_layers(CompiledNet& net) {
    for (int k = 1; k < F; ++k) {
        try {
            layers[k]->bind(*contexts[k]);
        } catch (const dnnl::error& e) {
            throw std::runtime_error(fmt::format("{}: oneDNN cannot bind {}: {}", g.name,
                                                 g.nodes[k].name, e.what()));
        }
    }
}

CompiledNet::CompiledNet(const nets::Graph& g, const CompileOptions& o, ParamStore& store,
                         const dnnl::engine& eng, dnnl::stream& s)
    : impl_(std::make_unique<Impl>(g, o, store, eng, s)), opt_(o) {
    Impl& m = *impl_;
    m.F = int(g.nodes.size());
    m.analyze_gradients();
    const auto& in_shape = g.input_shape();
    m.act_desc.assign(m.F, memory::desc());
    m.act_desc[0] = plain_desc({o.batch, in_shape.c, in_shape.h, in_shape.w});
    input_.resize(floats(m.act_desc[0]));
    if (o.input_grad) input_grad_.resize(floats(m.act_desc[0]));
    m.define_layers(*this);
    m.plan_residual_sums();
    if (!store.params()) {  // the first compile of this net owns initialization
        store.allocate();
        store.initialize(o.seed, eng, s);
    }
    m.plan_activations(m.last_reads());
    m.plan_gradients();
    m.order_gradient_writes();
    m.plan_layer_buffers();
    arena_bytes_ = m.plan.place(64, o.share_memory);
    naive_bytes_ = m.plan.naive_bytes();
    require_memory(arena_bytes_ + m.scratch_bytes,
                   fmt::format("{} at batch {} ({})", g.name, o.batch, o.training ? "training" : "inference"));
    m.arena.resize(arena_bytes_ / sizeof(float) + 16);
    m.scratchpad.resize(m.scratch_bytes / sizeof(float) + 16);
    if (o.poison) {
        std::memset(m.arena.data(), 0xFF, m.arena.size() * sizeof(float));
        std::memset(m.scratchpad.data(), 0xFF, m.scratchpad.size() * sizeof(float));
    }
    m.bind_sinks(*this);
    m.bind_layers(*this);
    bind_outputs();
}

// edges: outputs leave in plain layout, their gradients come back the same way
void CompiledNet::bind_outputs() {
    Impl& m = *impl_;
    const nets::Graph& g = m.g;
    const dnnl::engine& eng = m.eng;
    for (size_t i = 0; i < g.outputs.size(); ++i) {
        const int out = g.outputs[i];
        const memory::desc plain = plain_desc(m.act_desc[out].dims());
        out_desc_.push_back(plain);
        out_plain_.emplace_back();
        out_plain_.back().resize(floats(plain));
        out_grad_plain_.emplace_back();
        out_grad_plain_.back().resize(floats(plain));
        memory act(m.act_desc[out], eng, m.act_ptr(out, *this));
        memory p(plain, eng, out_plain_.back().data());
        m.out_copy.push_back(dnnl::reorder(act, p));
        m.out_copy_args.push_back({{DNNL_ARG_FROM, act}, {DNNL_ARG_TO, p}});
        if (m.needs_grad[out]) {
            memory gp(plain, eng, out_grad_plain_.back().data());
            memory ga(m.act_desc[out], eng, m.grad_ptr(out, *this));
            m.grad_in_copy.push_back(dnnl::reorder(gp, ga));
            m.grad_in_copy_args.push_back({{DNNL_ARG_FROM, gp}, {DNNL_ARG_TO, ga}});
        }
    }
}

CompiledNet::~CompiledNet() = default;

bool CompiledNet::runs_backward(int node) const { return impl_->needs_grad.at(node); }

bool CompiledNet::summed_by_producer(int node) const { return impl_->summer.at(node) >= 0; }

bool CompiledNet::takes_grad_part(int node) const { return impl_->part_sink.at(node).first >= 0; }

int CompiledNet::backward_runs(int node) const { return impl_->bwd_runs.at(node); }

std::vector<float> CompiledNet::read_node(int node, bool gradient) {
    Impl& m = *impl_;
    if (gradient && m.grad_group.at(node) < 0) return {};
    const memory::desc& d = m.act_desc.at(node);
    memory src(d, m.eng, gradient ? m.grad_ptr(node, *this) : m.act_ptr(node, *this));
    std::vector<float> out(std::size_t(elems(d)));
    memory dst(plain_desc(d.dims()), m.eng, out.data());
    dnnl::reorder(src, dst).execute(m.s, src, dst);
    m.s.wait();
    return out;
}

void CompiledNet::forward() {
    Impl& m = *impl_;
    if (m.converted_version != m.store.version()) {
        for (auto& c : m.conversions) c->run(m.s);
        m.converted_version = m.store.version();
    }
    if (node_ms_.empty()) {
        for (int k = 1; k < m.F; ++k) m.layers[k]->forward(*m.contexts[k]);
    } else {
        for (int k = 1; k < m.F; ++k) {
            const auto t = std::chrono::steady_clock::now();
            m.layers[k]->forward(*m.contexts[k]);
            m.s.wait();
            node_ms_[k] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
        }
    }
    for (size_t i = 0; i < m.out_copy.size(); ++i) m.out_copy[i].execute(m.s, m.out_copy_args[i]);
    m.s.wait();
}

void CompiledNet::backward() {
    Impl& m = *impl_;
    if (!opt_.training) throw std::logic_error("backward() on an inference net");
    std::fill(m.bwd_runs.begin(), m.bwd_runs.end(), 0);
    for (size_t i = 0; i < m.grad_in_copy.size(); ++i)
        m.grad_in_copy[i].execute(m.s, m.grad_in_copy_args[i]);
    for (int k = m.F - 1; k >= 1; --k) {
        if (!m.needs_grad[k]) continue;
        const auto t = std::chrono::steady_clock::now();
        m.layers[k]->backward(*m.contexts[k]);
        for (auto& sink : m.sinks[k])
            if (sink.active && sink.has_post) sink.post.execute(m.s, sink.post_args);
        if (!node_ms_.empty()) {
            m.s.wait();
            node_ms_[k] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
        }
    }
    m.s.wait();
    bwd_count_ = 0;
    for (int r : m.bwd_runs) bwd_count_ += r;
}

std::size_t CompiledNet::node_count() const { return std::size_t(impl_->F); }

}  // namespace deeper::runners
