#include "runners/engine/tuner.hpp"

#include <omp.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <tuple>

#include "nets/builder.hpp"
#include "nets/error.hpp"
#include "runners/engine/layers/channels_innermost.hpp"
#include "runners/engine/layers/winograd_conv.hpp"
#include "runners/engine/quiet_gate.hpp"
#include "runners/engine/tune_cache.hpp"
#include "runners/memory_budget.hpp"
#include "runners/table.hpp"
#include "search/fnv_hash.hpp"

namespace deeper::runners {

TuneMode parse_tune_mode(const std::string& name) {
    if (name == "off") return TuneMode::off;
    if (name == "cached") return TuneMode::cached;
    if (name == "force") return TuneMode::force;
    throw InputError(fmt::format("unknown tune mode '{}' (off, cached or force)", name));
}

std::string tune_mode_name(TuneMode m) {
    return m == TuneMode::off ? "off" : m == TuneMode::cached ? "cached" : "force";
}

namespace {

using Clock = std::chrono::steady_clock;
using dnnl::algorithm;
using dt = dnnl::memory::data_type;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// The one consumer of node k, or -1 (none, several, or k is an output).
int only_consumer(const nets::Graph& g, int k) {
    for (int o : g.outputs)
        if (o == k) return -1;
    int found = -1;
    for (const auto& n : g.nodes)
        for (int i : n.inputs)
            if (i == k) {
                if (found >= 0) return -1;
                found = n.id;
            }
    return found;
}

bool is_activation(nets::Op op) {
    using nets::Op;
    return op == Op::relu || op == Op::relu6 || op == Op::swish || op == Op::sigmoid || op == Op::tanh;
}

// A conv with what runs after it inside the net: its batch norm and that norm's activation.
struct Segment {
    nets::Graph graph;
    std::string text;  // "conv 3x3/s1 16x32x32->16x32x32 + bn + relu"
    bool input_grad = false, weights_grad = false, has_bn = false, bn_frozen = false;
    bool fed_by_layer = false;  // node 1 is the untimed "pre" conv
    int first_timed_node() const { return fed_by_layer ? 2 : 1; }
};

Segment segment_of(const nets::Graph& g, int k, const std::vector<bool>& grads, const EngineOptions& o) {
    const nets::Node& conv = g.node(k);
    const auto& a = std::get<nets::ConvAttrs>(conv.attrs);
    const nets::Shape in = g.node(conv.inputs.at(0)).out;
    Segment s;
    s.input_grad = grads[conv.inputs[0]];
    s.weights_grad = !frozen_by(conv.name, o.frozen);
    s.text = fmt::format("conv {}x{}/s{}{}{} {}x{}x{}->{}x{}x{}", a.kh, a.kw, a.stride,
                         a.groups > 1 ? fmt::format("/g{}", a.groups) : "", a.bias ? "+bias" : "", in.c, in.h, in.w,
                         conv.out.c, conv.out.h, conv.out.w);
    if (a.pad_t != a.kh / 2 || a.pad_l != a.kw / 2 || a.pad_b != a.pad_t || a.pad_r != a.pad_l)
        s.text += fmt::format(" pad {},{},{},{}", a.pad_t, a.pad_l, a.pad_b, a.pad_r);
    // A conv fed by another layer reads its input in that layer's layout and type: a 1x1 conv
    // produces it (in the type the plan gave the conv upstream: arriving_type), and is not
    // timed. One fed by the net's input converts it from plain fp32, in the net as here.
    // The 1x1 conv reads at most 16 channels: its weight gradient, there only so that the
    // conv's data gradient is computed, then costs little (as a 960->960 conv on a 1x1 map it
    // took most of mobilenet-v2's bf16 tuning on the AMX Xeon, in oneDNN's AMX kernel).
    s.fed_by_layer = conv.inputs[0] != 0;
    nets::Builder b("tune", s.fed_by_layer ? nets::Shape{std::min(in.c, 16), in.h, in.w} : in);
    int x = b.input();
    if (s.fed_by_layer) x = b.conv(x, in.c, 1, 1, 1, false, "pre");
    x = b.conv(x, a, "conv");
    const int bn = only_consumer(g, k);
    if (bn >= 0 && g.node(bn).op == nets::Op::batchnorm) {
        const auto& ba = std::get<nets::BatchNormAttrs>(g.node(bn).attrs);
        x = b.batchnorm(x, "bn", ba.eps);
        s.has_bn = true;
        s.bn_frozen = frozen_by(g.node(bn).name, o.frozen);
        s.text += s.bn_frozen ? " + frozen bn" : " + bn";
        const int act = only_consumer(g, bn);
        if (act >= 0 && is_activation(g.node(act).op)) {
            x = b.activation(x, g.node(act).op, "act");
            s.text += std::string(" + ") + nets::op_name(g.node(act).op);
        }
    }
    b.mark_output(x);
    s.graph = b.finish();
    if (!s.input_grad) s.text += ", no input gradient";
    if (!s.weights_grad) s.text += ", frozen";
    return s;
}

EngineOptions measuring_options(const EngineOptions& o) {
    EngineOptions m = o;
    m.threads = 0;  // the caller's, already set
    m.tune.mode = TuneMode::off;
    m.poison = false;
    return m;
}

// The segment compiled with the conv in `form`, its input arriving in type `fed`. `base`:
// measuring_options.
std::unique_ptr<Engine> segment_engine(const Segment& seg, const EngineOptions& base, const ConvForm& form, dt fed) {
    EngineOptions eo = base;
    eo.input_grad = !seg.fed_by_layer && seg.input_grad;
    eo.frozen.clear();
    if (!seg.weights_grad) eo.frozen.push_back("conv");
    if (seg.bn_frozen) eo.frozen.push_back("bn");
    if (!seg.input_grad) eo.frozen.push_back("pre");  // so no gradient reaches it
    eo.conv_plan = {{"conv", form}, {"pre", ConvForm{fed}}};
    return std::make_unique<Engine>(seg.graph, eo);
}

}  // namespace

TimedSegment timed_segment(const nets::Graph& g, int conv, const EngineOptions& o, const ConvForm& form, dt fed) {
    const Segment seg = segment_of(g, conv, nodes_needing_gradient(g, o.frozen, o.input_grad), o);
    return {segment_engine(seg, measuring_options(o), form, fed), seg.first_timed_node()};
}

// The forms worth timing for a conv: fp32 direct always; Winograd where oneDNN has it (3x3,
// stride 1, ungrouped): all passes, all but backward-data, or only backward-weights (the rule
// at 16-31 channels: without it a plan could not do what the rules do there, and resnet20's
// fp32 plans lost to the rules by its 16-channel convs); im2col + matmul on small maps (it
// gathers kh*kw copies of the input); each in bf16 too under bf16 precision, where oneDNN's
// Winograd has no bf16 kernel and the engine's F(2x2, 3x3) is one more candidate.
std::vector<ConvForm> candidate_forms(const nets::Node& conv, Precision p) {
    const auto& a = std::get<nets::ConvAttrs>(conv.attrs);
    const auto wino = algorithm::convolution_winograd, direct = algorithm::convolution_direct;
    const int map = conv.out.h * conv.out.w;
    std::vector<ConvForm> forms{ConvForm{}};
    if (a.kh == 3 && a.kw == 3 && a.stride == 1 && a.groups == 1) {
        forms.push_back({dt::f32, false, wino, wino, wino});
        forms.push_back({dt::f32, false, wino, direct, wino});
        forms.push_back({dt::f32, false, direct, direct, wino});
    }
    if (a.groups == 1 && map <= 64) forms.push_back({dt::f32, true});
    if (p == Precision::bf16) {
        forms.push_back({dt::bf16});
        if (a.groups == 1 && map <= 256) forms.push_back({dt::bf16, true});
        if (layers::WinogradConv::applies(a, dt::bf16)) {
            ConvForm wino_f2{dt::bf16};
            wino_f2.winograd_f2 = true;
            forms.push_back(wino_f2);
        }
    }
    return forms;
}

namespace {

void fill_normal(float* p, std::size_t n, std::mt19937& rng, float scale) {
    std::normal_distribution<float> d(0.f, scale);
    for (std::size_t i = 0; i < n; ++i) p[i] = d(rng);
}

std::size_t elements(const memory::dims& d) {
    std::size_t n = 1;
    for (auto x : d) n *= std::size_t(x);
    return n;
}

// The fastest of a few training steps of each engine (forward, backward; the weights marked
// changed each step, so the bf16 copies are made as in training), after one warm-up step: at
// least 5 steps and 30 ms, at most 40 (a segment of a millisecond varies by tens of percent
// from step to step). The engines step in turn, so that the machine's drift hits them alike
// (resnet20's fp32 plan against the rules: 0.99-1.07x over three cold tunes timing one net
// after the other, 1.00-1.03x over five in turn, on the AMX Xeon). Counted: the nodes from
// `first_node` on (a segment's own), or the whole step when first_node is 0. The fastest, not
// the median: another trial on the machine only ever adds time.
std::vector<double> fastest_steps_ms(const std::vector<Engine*>& engines, int first_node) {
    auto step = [&](Engine& e) {
        CompiledNet& net = e.train_net();
        const QuietGate::Work w(process_quiet_gate());  // a latency timed beside it waits for the step
        if (first_node > 0) net.time_nodes(true);
        const auto t = Clock::now();
        e.params().touch();
        e.forward(true);
        e.backward();
        if (first_node == 0) return ms_since(t);
        double ms = 0;
        for (std::size_t k = std::size_t(first_node); k < net.node_ms().size(); ++k) ms += net.node_ms()[k];
        return ms;
    };
    for (Engine* e : engines) {
        std::mt19937 rng(1);
        fill_normal(e->input(), e->input_floats(), rng, 1.f);
        e->forward(true);
        for (std::size_t i = 0; i < e->graph().outputs.size(); ++i)  // the same output gradients each step
            fill_normal(e->output_grad(int(i)), elements(e->output_dims(int(i))), rng, 1e-3f);
        step(*e);
    }
    const std::size_t k = engines.size();
    std::vector<double> best(k, 1e300), total(k, 0.0);
    std::vector<int> steps(k, 0);
    auto wants_more = [&](std::size_t i) { return steps[i] < 40 && (steps[i] < 5 || total[i] < 30); };
    for (bool more = true; more;) {
        more = false;
        for (std::size_t i = 0; i < k; ++i)
            if (wants_more(i)) {
                const double ms = step(*engines[i]);
                best[i] = std::min(best[i], ms);
                total[i] += ms;
                ++steps[i];
                more = more || wants_more(i);
            }
    }
    for (Engine* e : engines) e->train_net().time_nodes(false);
    return best;
}

double fastest_step_ms(Engine& e, int first_node) { return fastest_steps_ms({&e}, first_node).at(0); }

// The engine's A/B switches that change what is timed, when off their defaults: part of
// every cache key, so a run with fusion off never reads times measured with it on.
std::string switches(const EngineOptions& o) {
    std::string s;
    if (!o.fuse_bn_relu) s += ", no fusion";
    if (!o.crop_kernels) s += ", no kernel crop";
    if (!o.gemm_convs) s += ", no gemm";
    if (!o.share_memory) s += ", no memory reuse";
    return s;
}

// A digest of what a whole-net timing depends on: every node's op, inputs, shape and
// attributes (not its name), gradients, frozen nodes and each conv's form.
std::string net_key(const nets::Graph& g, const EngineOptions& o, const ConvPlan* plan) {
    std::string s;
    for (const auto& n : g.nodes) {
        s += fmt::format("{}({}) {}x{}x{} p{} m{}", nets::op_name(n.op), fmt::join(n.inputs, ","), n.out.c, n.out.h,
                         n.out.w, n.params, n.macs);
        if (frozen_by(n.name, o.frozen)) s += " frozen";
        if (plan) {
            auto it = plan->find(n.name);
            if (it != plan->end()) s += " " + conv_form_name(it->second);
        }
        s += ";";
    }
    return fmt::format("net {:016x} {} nodes, batch {}, threads {}, {}, input gradient {}{}, plan {}", search::fnv1a(s),
                       g.nodes.size(), o.batch, omp_get_max_threads(), precision_name(o.precision),
                       o.input_grad ? 1 : 0, switches(o), plan ? "tuned" : "rules");
}

// The measured plan replaces the fixed rules only when its whole step is at least this much
// faster: two step timings of one net differ by about a percent from run to run, and a plan
// that won by 0.8% trained resnet20 in fp32 3.5% slower than the rules on the AMX Xeon.
constexpr double plan_margin = 0.02;

// The type conv k's input arrives in under the plan so far: that of the nearest conv upstream
// along first inputs (tuned before k, the nodes being in order); nullopt when none is.
std::optional<dt> arriving_type(const nets::Graph& g, int k, const ConvPlan& plan) {
    for (int i = g.node(k).inputs.at(0); i > 0; i = g.node(i).inputs.empty() ? 0 : g.node(i).inputs[0]) {
        if (g.node(i).op != nets::Op::conv) continue;
        const auto it = plan.find(g.node(i).name);
        return it == plan.end() ? std::nullopt : std::optional<dt>(it->second.type);
    }
    return std::nullopt;
}

// The fastest candidate, of data type `type` when given; null when there is none.
const TunedCandidate* fastest(const std::vector<TunedCandidate>& candidates, std::optional<dt> type) {
    const TunedCandidate* best = nullptr;
    for (const auto& c : candidates)
        if ((!type || c.form.type == *type) && (!best || c.ms < best->ms)) best = &c;
    return best;
}

class Measurer {
public:
    Measurer(const EngineOptions& o) : o_(o), cache_(o.tune.cache_folder, o.tune.on_note) {}

    // A cached time when the mode allows, else a measurement (recorded unless injected).
    template <class Build>
    double time(const std::string& key, double injected, int first_node, Build&& build, bool& cached) {
        if (o_.tune.mode == TuneMode::cached && injected == 0)
            if (auto ms = cache_.find(key)) {
                cached = true;
                ++cached_;
                return *ms;
            }
        std::unique_ptr<Engine> e = build();
        const double ms = fastest_step_ms(*e, first_node);
        ++measured_;
        cached = false;
        if (injected == 0) cache_.record(key, ms);
        return ms + injected;
    }
    // Two whole nets' steps, from the cache when it holds both, else measured in turn (one
    // after the other when two would not fit in memory) and recorded.
    template <class Build>
    std::pair<double, double> time_pair(const std::string& key_a, const std::string& key_b, Build&& build_a,
                                        Build&& build_b) {
        if (o_.tune.mode == TuneMode::cached) {
            const auto a = cache_.find(key_a), b = cache_.find(key_b);
            if (a && b) {
                cached_ += 2;
                return {*a, *b};
            }
        }
        std::unique_ptr<Engine> a = build_a();
        // what one engine holds: its arena, and its weights with their gradients and copies
        const std::uint64_t one = a->train_net().arena_bytes() + 4 * sizeof(float) * a->params().param_floats();
        const std::optional<std::uint64_t> free = available_memory();
        std::pair<double, double> ms;
        if (!free || *free > 4 * one) {
            std::unique_ptr<Engine> b = build_b();
            const std::vector<double> both = fastest_steps_ms({a.get(), b.get()}, 0);
            ms = {both[0], both[1]};
        } else {
            ms.first = fastest_step_ms(*a, 0);
            a.reset();
            ms.second = fastest_step_ms(*build_b(), 0);
        }
        measured_ += 2;
        cache_.record(key_a, ms.first);
        cache_.record(key_b, ms.second);
        return ms;
    }
    int measured() const { return measured_; }
    int cached() const { return cached_; }

private:
    const EngineOptions& o_;
    TuneCache cache_;
    int measured_ = 0, cached_ = 0;
};

}  // namespace

Tuning tune_conv_plan(const nets::Graph& g, const EngineOptions& o) {
    const auto start = Clock::now();
    Tuning t;
    Measurer m(o);
    const std::vector<bool> grads = nodes_needing_gradient(g, o.frozen, o.input_grad);
    const EngineOptions base = measuring_options(o);
    const int threads = omp_get_max_threads();
    for (const auto& n : g.nodes) {
        if (n.op != nets::Op::conv) continue;
        const Segment seg = segment_of(g, n.id, grads, o);
        LayerTuning lt;
        lt.node = n.name;
        lt.segment = seg.text;
        const std::optional<dt> arriving = arriving_type(g, n.id, t.plan);
        auto time_form = [&](const ConvForm& form) {
            // The conversion from the type the input arrives in counts in the candidate's time.
            const dt fed = arriving.value_or(form.type);
            const std::string fed_text = fed == form.type ? "" : fed == dt::bf16 ? ", fed bf16" : ", fed f32";
            const std::string key = fmt::format("{}, batch {}, threads {}{}{}: {}", seg.text, o.batch, threads,
                                                switches(o), fed_text, conv_form_name(form));
            const double injected = o.tune.injected_ms ? o.tune.injected_ms(n.name, form) : 0.0;
            TunedCandidate c{form};
            c.ms = m.time(key, injected, seg.first_timed_node(), [&] { return segment_engine(seg, base, form, fed); },
                          c.cached);
            lt.candidates.push_back(c);
        };
        for (const ConvForm& form : candidate_forms(n, o.precision)) time_form(form);
        // The engine's batch-norm kernels, after the fastest form of each data type (the
        // type sets the layout the norm reads).
        if (seg.has_bn)
            for (const dt type : {dt::f32, dt::bf16}) {
                const TunedCandidate* best = fastest(lt.candidates, type);
                if (!best || !layers::channels_innermost_kernels_run_here(type)) continue;
                ConvForm own = best->form;
                own.own_bn = true;
                time_form(own);
            }
        lt.chosen = fastest(lt.candidates, std::nullopt)->form;
        t.plan[n.name] = lt.chosen;
        t.layers.push_back(std::move(lt));
    }
    if (!t.plan.empty()) {
        auto whole = [&](const ConvPlan* plan) {
            return [&, plan] {
                EngineOptions eo = base;
                if (plan) eo.conv_plan = *plan;
                return std::make_unique<Engine>(g, eo);
            };
        };
        std::tie(t.tuned_step_ms, t.rules_step_ms) =
            m.time_pair(net_key(g, o, &t.plan), net_key(g, o, nullptr), whole(&t.plan), whole(nullptr));
        if (t.tuned_step_ms > t.rules_step_ms * (1 - plan_margin)) t.plan.clear();
    }
    t.measured = m.measured();
    t.cached = m.cached();
    t.seconds = ms_since(start) / 1000;
    if (o.tune.on_note && t.measured > 0)
        o.tune.on_note(fmt::format("tuned {} conv(s) of {} in {:.1f} s ({} timings, {} cached): a training step "
                                   "takes {:.1f} ms with the measured plan, {:.1f} ms with the fixed rules: {}",
                                   t.layers.size(), g.name, t.seconds, t.measured, t.cached, t.tuned_step_ms,
                                   t.rules_step_ms, t.plan.empty() ? "the rules are kept" : "the plan is used"));
    return t;
}

std::string tuning_table(const Tuning& t) {
    Table tab;
    tab.add_column("node");
    tab.add_column("segment");
    tab.add_column("form");
    tab.add_column("step_ms", true);
    tab.add_column("vs_best", true);
    tab.add_column("chosen");
    for (const auto& l : t.layers) {
        double best = 1e300;
        for (const auto& c : l.candidates) best = std::min(best, c.ms);
        for (const auto& c : l.candidates)
            tab.add_row({l.node, l.segment, conv_form_name(c.form), fmt::format("{:.3f}", c.ms),
                         fmt::format("{:.2f}x", c.ms / best), c.form == l.chosen ? "*" : ""});
    }
    std::string s = render(tab, Format::table);
    s += fmt::format("whole training step: {:.2f} ms with the measured plan, {:.2f} ms with the fixed rules: {}\n",
                     t.tuned_step_ms, t.rules_step_ms,
                     t.plan.empty() && !t.layers.empty() ? "the rules are kept" : "the plan is used");
    return s;
}

}  // namespace deeper::runners
