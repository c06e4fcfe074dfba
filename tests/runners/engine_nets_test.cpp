// Whole-net gradient checks on tiny instances of each family, freezing, dropout masks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "nets/builder.hpp"
#include "nets/mbconv.hpp"
#include "nets/vgg_style.hpp"
#include "nets/zoo.hpp"
#include "runners/engine/engine.hpp"
#include "runners/engine/layers/channels_innermost.hpp"
#include "support.hpp"
#include "support/gradcheck.hpp"

using namespace deeper::nets;
using deeper::runners::Engine;
using deeper::runners::EngineOptions;
using deeper::test::gradcheck;
using deeper::test::GradcheckOptions;
using deeper::test::gradcheck_both_layouts;

namespace {

Graph tiny_resnet(const char* name) {
    NetOptions o;
    o.width = 0.5;
    o.resolution = 8;
    o.classes = 5;
    return build_net(name, o);
}

// Whole nets in bf16 are held to the engine's fp32 gradients, normwise (see gradcheck.hpp):
// tightly where no kink decides, loosely (catching layout and wiring errors, which are off by
// 100% or more) where ReLU or max-pool decisions flip.
GradcheckOptions whole_net(GradcheckOptions o, bool kinks) {
    o.bf16_against_fp32 = true;
    o.bf16_norm_rtol = kinks ? 0.5 : 0.08;
    return o;
}

}  // namespace

TEST_CASE("tiny CIFAR ResNet with option-A shortcuts", "[engine][nets]") {
    GradcheckOptions o;
    o.batch = 4;
    o.fwd_rtol = 1e-3;
    gradcheck_both_layouts(tiny_resnet("resnet8"), whole_net(o, true));
}

TEST_CASE("tiny plain net and option-B shortcuts", "[engine][nets]") {
    GradcheckOptions o;
    o.batch = 4;
    o.fwd_rtol = 1e-3;
    GradcheckOptions p = o;
    p.batch = 8;
    NetOptions plain;
    plain.width = 0.5;
    plain.resolution = 16;
    plain.classes = 5;
    gradcheck(build_net("plain8", plain), p);
    NetOptions b;
    b.width = 0.5;
    b.resolution = 8;
    b.classes = 5;
    b.shortcut = "B";
    b.se_ratio = 0.25;
    gradcheck(build_net("resnet8", b), o);
}

TEST_CASE("an Inception module with 1x1 reductions", "[engine][nets]") {
    Builder b("inception", Shape{8, 6, 6});
    int x = b.input();
    auto unit = [&](int in, int c, int k, const char* n) { return b.relu(b.conv(in, c, k, 1, 1, true, n), std::string(n) + "_relu"); };
    int b1 = unit(x, 16, 1, "b1");
    int b2 = unit(unit(x, 8, 1, "b2r"), 16, 3, "b2");
    int b3 = unit(unit(x, 4, 1, "b3r"), 8, 5, "b3");
    int b4 = unit(b.max_pool(x, 3, 1, 1, true, "b4pool"), 8, 1, "b4");
    int y = b.concat({b1, b2, b3, b4});
    y = b.global_avg_pool(y);
    b.linear(y, 5, true, "fc");
    gradcheck_both_layouts(b.finish(), whole_net({}, true));
}

TEST_CASE("MBConv blocks with squeeze-excitation and swish", "[engine][nets]") {
    MbconvNetDef d;
    d.name = "tiny-mbconv";
    d.stages = {"ds_r1_k3_s1_c8_se0.25", "ir_r2_k3_s2_e3_c16_se0.25", "ir_r1_k5_s1_e2_c16"};
    d.stem_channels = 8;
    d.head_channels = 32;
    d.activation = Op::swish;
    d.resolution = 8;
    d.classes = 5;
    GradcheckOptions o;
    o.batch = 4;
    o.fwd_rtol = 1e-3;
    gradcheck_both_layouts(build_mbconv_net(d), whole_net(o, false));
}

TEST_CASE("VGG-style net with LRN, max pooling and an FC classifier", "[engine][nets]") {
    VggNetDef d;
    d.name = "tiny-vgg-lrn";
    d.layers = {"8", "LRN", "M", "16", "conv1-16", "M"};
    d.hidden = {16};
    d.dropout = 0;
    d.resolution = 8;
    d.classes = 5;
    gradcheck_both_layouts(build_vgg_net(d), whole_net({}, true));
}

TEST_CASE("a frozen prefix gets no gradient and runs no backward primitive", "[engine][freeze]") {
    const Graph g = tiny_resnet("resnet8");
    EngineOptions o;
    o.batch = 4;
    o.frozen = {"stem", "stage1"};
    Engine e(g, o);
    std::vector<std::int32_t> labels = {0, 1, 2, 3};
    for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = std::sin(0.37f * i);
    e.train_step(labels.data());
    auto& net = e.train_net();
    int frozen_nodes = 0, trained_nodes = 0;
    for (const auto& n : g.nodes) {
        const bool frozen = n.name.rfind("stem.", 0) == 0 || n.name.rfind("stage1.", 0) == 0;
        if (frozen) {
            ++frozen_nodes;
            INFO(n.name);
            CHECK(net.backward_runs(n.id) == 0);
            CHECK_FALSE(net.runs_backward(n.id));
        } else if (n.op == Op::conv) {
            ++trained_nodes;
            CHECK(net.backward_runs(n.id) > 0);
        }
    }
    CHECK(frozen_nodes > 5);
    CHECK(trained_nodes > 2);
    auto& store = e.params();
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        if (p.is_state) continue;
        auto grad = store.read_plain_grad(int(i), e.dnnl_engine(), e.stream());
        double norm = 0;
        for (float v : grad) norm += std::abs(v);
        INFO(p.name);
        if (p.name.rfind("stem.", 0) == 0 || p.name.rfind("stage1.", 0) == 0) {
            CHECK_FALSE(p.trainable);
            CHECK(norm == 0.0);
        } else {
            CHECK(norm > 0.0);
        }
    }
}

TEST_CASE("dropout masks: inverted scaling, the drop rate, identity at inference", "[engine][ops]") {
    Builder b("masks", Shape{16, 8, 8});
    int x = b.dropout(b.input(), 0.25f, "dropout");
    b.drop_connect(x, 0.5f, "drop_connect");
    EngineOptions o;
    o.batch = 64;
    Engine e(b.finish(), o);
    for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = 1.f + (i % 7);
    e.forward(true);
    const float* y = e.output();
    const std::size_t per = 16 * 8 * 8;
    int dropped_samples = 0;
    std::size_t zeros = 0, kept_elems = 0;
    for (int n = 0; n < 64; ++n) {
        bool all_zero = true;
        for (std::size_t i = 0; i < per; ++i) {
            const float x0 = e.input()[n * per + i], v = y[n * per + i];
            all_zero = all_zero && v == 0.f;
            if (v == 0.f) ++zeros;
            else {
                ++kept_elems;
                CHECK(v == Approx(x0 / 0.75f / 0.5f));
            }
        }
        dropped_samples += all_zero;
    }
    CHECK(dropped_samples > 16);  // ~32 expected
    CHECK(dropped_samples < 48);
    const double kept_rate = double(kept_elems) / ((64 - dropped_samples) * per);
    CHECK(kept_rate == Approx(0.75).margin(0.02));
    // The same step draws the same masks; the next step draws new ones.
    std::vector<float> first(y, y + 64 * per);
    e.forward(true);
    CHECK(std::equal(first.begin(), first.end(), e.output()));
    e.set_step(1);
    e.forward(true);
    CHECK_FALSE(std::equal(first.begin(), first.end(), e.output()));
    // Inference: identity.
    e.forward(false);
    for (std::size_t i = 0; i < 64 * per; i += 97) CHECK(e.output()[i] == e.input()[i]);
}

using deeper::test::largest_relative_difference;

namespace {

// One training step's numbers: the loss, the input gradient and every parameter's gradient.
std::vector<float> train_step_numbers(Engine& e, std::vector<std::int32_t> labels) {
    const auto loss = e.train_step(labels.data());
    std::vector<float> all = {float(loss.loss)};
    all.insert(all.end(), e.input_grad(), e.input_grad() + e.input_floats());
    auto& store = e.params();
    for (std::size_t t = 0; t < store.infos().size(); ++t)
        if (!store.info(int(t)).is_state) {
            const auto gr = store.read_plain_grad(int(t), e.dnnl_engine(), e.stream());
            all.insert(all.end(), gr.begin(), gr.end());
        }
    return all;
}

// Batch 4, seed 3 and the input's gradient too, with these switches: the engines whose steps
// the tests below compare.
EngineOptions switched_options(bool fuse, bool share = true, bool crop = true) {
    EngineOptions eo;
    eo.batch = 4;
    eo.seed = 3;
    eo.input_grad = true;
    eo.fuse_bn_relu = fuse;
    eo.share_memory = share;
    eo.crop_kernels = crop;
    return eo;
}

// One training step's numbers on a fixed input and labels (batch 4).
std::vector<float> fixed_step_numbers(Engine& e) {
    for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = float(std::sin(0.37 * double(i)));
    return train_step_numbers(e, {1, 4, 7, 9});
}

std::vector<float> step_with_switches(const Graph& g, bool fuse, bool share, bool crop) {
    Engine e(g, switched_options(fuse, share, crop));
    return fixed_step_numbers(e);
}

}  // namespace

TEST_CASE("conv as im2col + matmul and as Winograd F(2x2, 3x3) in chunks of the batch give the direct "
          "convolution's step", "[engine][options]") {
    // 256 channels on 8x8 at batch 32: 16 images per chunk in either, so the weight gradient is
    // summed over two chunks and each chunk's input gradient lands in its own images.
    Builder b("chunks", Shape{256, 8, 8});
    int x = b.conv(b.input(), 256, 3, 1, 1, true, "c1");
    x = b.relu(x, "r1");
    b.linear(b.global_avg_pool(x, "gap"), 10, true, "fc");
    const Graph g = b.finish();
    auto step = [&](deeper::runners::ConvAlgorithm alg) {
        EngineOptions eo;
        eo.batch = 32;
        eo.seed = 5;
        eo.input_grad = true;
        eo.conv_algorithm = alg;
        Engine e(g, eo);
        for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = float(std::sin(0.11 * double(i)));
        std::vector<std::int32_t> labels(32);
        for (int i = 0; i < 32; ++i) labels[i] = i % 10;
        return train_step_numbers(e, labels);
    };
    const auto direct = step(deeper::runners::ConvAlgorithm::direct);
    const auto gemm = step(deeper::runners::ConvAlgorithm::gemm);
    CHECK(largest_relative_difference(gemm, direct) <= 1e-5);  // another summation order: float rounding
    const auto winograd = step(deeper::runners::ConvAlgorithm::winograd_f2);
    CHECK(largest_relative_difference(winograd, direct) <= 1e-4);  // the transforms round too
}

TEST_CASE("fusion, memory reuse and kernel cropping change no number of a training step", "[engine][options]") {
    // BN followed by ReLU (fusable), kernels larger than their maps (cropped), a residual add
    // with its ReLU (fusable) and a shared input (reuse and accumulation); every switch
    // combination, one process.
    Builder b("switches", Shape{8, 4, 4});
    int x = b.relu(b.batchnorm(b.conv(b.input(), 16, 3, 2, 1, false, "c1"), "bn1"), "r1");
    int y = b.conv(x, 16, 5, 1, 16, false, "dw5");  // 5x5 on a 2x2 map: cut to the taps that meet it
    y = b.relu(b.batchnorm(y, "bn2"), "r2");
    x = b.relu(b.add(x, y, "add"), "r3");
    b.linear(b.global_avg_pool(x, "gap"), 10, true, "fc");
    const Graph g = b.finish();
    const auto base = step_with_switches(g, true, true, true);
    for (int mask = 0; mask < 7; ++mask) {
        const bool fuse = mask & 1, share = mask & 2, crop = mask & 4;
        INFO("fuse " << fuse << " share " << share << " crop " << crop);
        // Fused and cut kernels sum in another order: float rounding, never more.
        CHECK(largest_relative_difference(step_with_switches(g, fuse, share, crop), base) <= 1e-5);
    }
}

TEST_CASE("a ReLU6 or swish after a batch norm on the engine's kernels runs inside it: the step as apart, in less memory",
          "[engine][options]") {
    if (!deeper::runners::layers::channels_innermost_kernels_run_here(dnnl::memory::data_type::f32)) {
        WARN("no AVX-512: the engine's batch-norm kernels do not run here");
        return;
    }
    Builder b("fused-activations", Shape{8, 8, 8});
    const int swish = b.activation(b.batchnorm(b.conv(b.input(), 32, 3, 1, 1, false, "c1"), "bn1"), Op::swish, "swish");
    const int relu6 = b.activation(b.batchnorm(b.conv(swish, 32, 3, 1, 32, false, "dw"), "bn2"), Op::relu6, "relu6");
    b.linear(b.global_avg_pool(relu6, "gap"), 10, true, "fc");
    const Graph g = b.finish();
    struct Step {
        std::vector<float> numbers;
        std::size_t arena = 0;
        int activation_runs = 0;
    };
    auto step = [&](bool fuse) {
        EngineOptions eo = switched_options(fuse);
        deeper::runners::ConvForm own;
        own.own_bn = true;
        eo.conv_plan = {{"c1", own}, {"dw", own}};
        Engine e(g, eo);
        Step r;
        r.numbers = fixed_step_numbers(e);
        r.arena = e.train_net().arena_bytes();
        r.activation_runs = e.train_net().backward_runs(swish) + e.train_net().backward_runs(relu6);
        return r;
    };
    const Step fused = step(true), apart = step(false);
    CHECK(apart.activation_runs == 2);
    CHECK(fused.activation_runs == 0);
    CHECK(fused.arena < apart.arena);  // no batch-norm output kept for the swish's backward
    // the engine's swish and oneDNN's: float rounding apart
    CHECK(largest_relative_difference(fused.numbers, apart.numbers) <= 1e-5);
}

TEST_CASE("the engine's batch norm writes the residual sum after it, and its ReLU: the step as apart",
          "[engine][options]") {
    if (!deeper::runners::layers::channels_innermost_kernels_run_here(dnnl::memory::data_type::f32)) {
        WARN("no AVX-512: the engine's batch-norm kernels do not run here");
        return;
    }
    // "sum": add + ReLU after a branch whose shortcut x comes first: summed by bn1. "late": the
    // shortcut's norm is built after the branch's, so it is not there yet when bn2 runs: apart.
    // "plain": an add without a ReLU, as in MobileNet v2: summed by bn3.
    Builder b("residual-sums", Shape{8, 8, 8});
    const int x = b.relu(b.batchnorm(b.conv(b.input(), 16, 3, 1, 1, false, "c0"), "bn0"), "r0");
    const int sum = b.add(b.batchnorm(b.conv(x, 16, 3, 1, 1, false, "c1"), "bn1"), x, "sum");
    const int out = b.relu(sum, "r1");
    const int branch = b.batchnorm(b.conv(out, 16, 3, 1, 1, false, "c2"), "bn2");
    const int late = b.add(branch, b.batchnorm(b.conv(out, 16, 1, 1, 1, false, "cs"), "bns"), "late");
    const int plain = b.add(b.batchnorm(b.conv(late, 16, 3, 1, 1, false, "c3"), "bn3"), late, "plain");
    b.linear(b.global_avg_pool(plain, "gap"), 10, true, "fc");
    const Graph g = b.finish();
    deeper::runners::ConvForm own;
    own.own_bn = true;
    struct Run {
        std::vector<float> step, logits;  // a training step's numbers; inference after it
        std::vector<int> summed;          // sum, late, plain: in training and in inference
    };
    auto run = [&](bool fuse) {
        EngineOptions eo = switched_options(fuse);
        eo.conv_plan = {{"c0", own}, {"c1", own}, {"c2", own}, {"cs", own}, {"c3", own}};
        Engine e(g, eo);
        Run r;
        r.step = fixed_step_numbers(e);
        e.forward(false);  // the running statistics the step moved
        r.logits.assign(e.output(), e.output() + 4 * 10);
        for (auto* net : {&e.train_net(), &e.infer_net()})
            for (int add : {sum, late, plain}) r.summed.push_back(net->summed_by_producer(add));
        return r;
    };
    const Run fused = run(true), apart = run(false);
    CHECK(fused.summed == std::vector<int>{1, 0, 1, 1, 0, 1});
    CHECK(apart.summed == std::vector<int>(6, 0));
    // float rounding apart
    CHECK(largest_relative_difference(fused.step, apart.step) <= 1e-5);
    CHECK(largest_relative_difference(fused.logits, apart.logits) <= 1e-5);
}

TEST_CASE("a residual block's add takes the next block's part of its gradient in its ReLU's backward",
          "[engine][options]") {
    if (!deeper::runners::layers::channels_innermost_kernels_run_here(dnnl::memory::data_type::f32)) {
        WARN("no AVX-512: the engine's kernels do not run here");
        return;
    }
    // Three blocks. block1's output feeds block2's conv and add: block2's conv sends the last
    // part of that gradient, with nothing between it and block1's add: taken. block2's output
    // feeds block3's shortcut conv first and its branch after, so the branch's part comes while
    // the shortcut's backward has still to run: the shortcut's part is the last one, taken
    // instead. block3's add feeds only the head: nothing to take.
    Builder b("grad-parts", Shape{8, 8, 8});
    auto unit = [&](int in, const std::string& name) {
        return b.batchnorm(b.conv(in, 16, 3, 1, 1, false, name + ".conv"), name + ".bn");
    };
    const int x = b.relu(unit(b.input(), "stem"), "stem.relu");
    const int add1 = b.add(unit(b.relu(unit(x, "b1.1"), "b1.r"), "b1.2"), x, "b1.add");
    const int y1 = b.relu(add1, "b1.out");
    const int add2 = b.add(unit(b.relu(unit(y1, "b2.1"), "b2.r"), "b2.2"), y1, "b2.add");
    const int y2 = b.relu(add2, "b2.out");
    const int shortcut = unit(y2, "b3.s");
    const int add3 = b.add(unit(b.relu(unit(y2, "b3.1"), "b3.r"), "b3.2"), shortcut, "b3.add");
    b.linear(b.global_avg_pool(b.relu(add3, "b3.out"), "gap"), 10, true, "fc");
    const Graph g = b.finish();
    struct Run {
        std::vector<float> step;
        std::vector<int> taken;  // add1, add2, add3
    };
    auto run = [&](bool fuse, bool share) {
        Engine e(g, switched_options(fuse, share));
        Run r;
        r.step = fixed_step_numbers(e);
        for (int add : {add1, add2, add3}) r.taken.push_back(e.train_net().takes_grad_part(add));
        return r;
    };
    const Run fused = run(true, true), unshared = run(true, false), apart = run(false, true);
    CHECK(fused.taken == std::vector<int>{1, 1, 0});
    CHECK(unshared.taken == std::vector<int>{1, 1, 0});  // the shortcut's gradient copied: still the last part
    CHECK(apart.taken == std::vector<int>{0, 0, 0});     // no ReLU in the add
    CHECK(largest_relative_difference(fused.step, apart.step) <= 1e-5);  // float rounding apart
    CHECK(largest_relative_difference(unshared.step, apart.step) <= 1e-5);
}

TEST_CASE("a shortcut shares the add's gradient only where every read of it comes first", "[engine][options]") {
    // resnet: x feeds the branch's conv and the add, the add reads it last; the branch's part
    // arrives after everything that reads the add's gradient: shared. tangled: the add's
    // other input is computed from x before x's other reader, whose part would arrive while
    // that input's backward still has to read the add's gradient: not shared.
    auto graph = [](bool tangled) {
        Builder b(tangled ? "tangled" : "resnet", Shape{8, 4, 4});
        const int x = b.relu(b.batchnorm(b.conv(b.input(), 16, 3, 1, 1, false, "c0"), "bn0"), "r0");
        int out;
        if (tangled) {
            const int y = b.batchnorm(x, "bn_y");
            const int c = b.conv(x, 16, 3, 1, 1, false, "c_other");
            out = b.add(b.add(y, x, "add"), c, "add2");
        } else {
            const int y = b.batchnorm(b.conv(x, 16, 3, 1, 1, false, "c1"), "bn1");
            out = b.relu(b.add(y, x, "add"), "r1");
        }
        b.linear(b.global_avg_pool(out, "gap"), 10, true, "fc");
        return b.finish();
    };
    for (bool tangled : {false, true}) {
        const Graph g = graph(tangled);
        INFO(g.name);
        CHECK(largest_relative_difference(step_with_switches(g, true, true, true),
                                          step_with_switches(g, true, false, true)) <= 1e-6);
    }
}

TEST_CASE("zero_init_residual starts those scales at 0 and a step moves them", "[engine][nets]") {
    NetOptions k;
    k.width = 0.5;
    k.resolution = 8;
    k.classes = 5;
    k.zero_init_residual = true;
    const Graph g = build_net("resnet8", k);
    EngineOptions o;
    o.batch = 4;
    Engine e(g, o);
    auto& store = e.params();
    std::vector<int> zeroed;
    for (std::size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        const bool branch_end = p.name.size() > 10 && p.name.compare(p.name.size() - 10, 10, "bn2.weight") == 0;
        const auto v = store.read_plain(int(i), e.dnnl_engine(), e.stream());
        INFO(p.name);
        if (branch_end) zeroed.push_back(int(i));
        if (p.name.find("bn") != std::string::npos && p.name.find(".weight") != std::string::npos)
            CHECK(std::all_of(v.begin(), v.end(), [&](float x) { return x == (branch_end ? 0.f : 1.f); }));
    }
    REQUIRE(zeroed.size() == 3);  // resnet8: three blocks
    std::vector<std::int32_t> labels = {0, 1, 2, 3};
    for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = std::sin(0.37f * i);
    e.train_step(labels.data());
    for (int i : zeroed) {  // the branch's own weights get no gradient through a zero scale, but the scale does
        const auto grad = store.read_plain_grad(i, e.dnnl_engine(), e.stream());
        INFO(store.info(i).name);
        CHECK(std::any_of(grad.begin(), grad.end(), [](float x) { return x != 0.f; }));
    }
}
