// Exact parameter counts of every zoo net against the published / reference implementations
// (shared/reference/papers.md), and MACs within 1%.
#include <catch2/catch.hpp>

#include <cmath>

#include "nets/error.hpp"
#include "nets/zoo.hpp"

using namespace deeper::nets;

namespace {
void check_macs(const Graph& g, double expected) {
    INFO(g.name << " macs " << g.total_macs() << " vs published " << expected);
    CHECK(std::abs(double(g.total_macs()) - expected) <= 0.01 * expected);
}
}  // namespace

TEST_CASE("torchvision-exact parameter counts at 1000 classes", "[nets][zoo]") {
    struct Case {
        const char* net;
        std::int64_t params;
    };
    const Case cases[] = {
        {"alexnet", 61'100'840},          {"vgg11", 132'863'336},
        {"vgg13", 133'047'848},           {"vgg16", 138'357'544},
        {"vgg19", 143'667'240},           {"googlenet-tv", 6'624'904},
        {"resnet18", 11'689'512},         {"resnet34", 21'797'672},
        {"resnet50", 25'557'032},         {"resnet101", 44'549'160},
        {"resnet152", 60'192'808},        {"mobilenet-v2", 3'504'872},
        {"efficientnet-b0", 5'288'548},   {"se-resnet50", 28'088'024},
    };
    for (const auto& c : cases) {
        INFO(c.net);
        CHECK(build_net(c.net).total_params() == c.params);
    }
}

TEST_CASE("CIFAR ResNets of He et al. Table 6 have the exact parameter counts", "[nets][zoo]") {
    CHECK(build_net("resnet20").total_params() == 269'722);
    CHECK(build_net("resnet32").total_params() == 464'154);
    CHECK(build_net("resnet44").total_params() == 658'586);
    CHECK(build_net("resnet56").total_params() == 853'018);
    CHECK(build_net("resnet110").total_params() == 1'727'962);
    // Option-A shortcuts add no parameters: the plain twins have the same count.
    CHECK(build_net("plain56").total_params() == 853'018);
    // Option B projects with 1x1 conv + BN where the shape changes (two places).
    CHECK(build_net("resnet20", [] { NetOptions o; o.shortcut = "B"; return o; }()).total_params() ==
          269'722 + (16 * 32 + 64) + (32 * 64 + 128));
    // Any 6n+2 works.
    CHECK(build_net("resnet1202").nodes.size() > build_net("resnet110").nodes.size());
}

TEST_CASE("VGG configurations match Table 2 of the paper", "[nets][zoo]") {
    auto millions = [](const char* n) { return std::lround(build_net(n).total_params() / 1e6); };
    CHECK(millions("vgg-a") == 133);
    CHECK(millions("vgg-a-lrn") == 133);
    CHECK(millions("vgg-b") == 133);
    CHECK(millions("vgg-c") == 134);
    CHECK(millions("vgg-d") == 138);
    CHECK(millions("vgg-e") == 144);
    check_macs(build_net("vgg-d"), 15.47e9);
    // B-5x5: five 5x5 convs instead of ten 3x3 ones; fewer layers, more weights per layer.
    CHECK(build_net("vgg-b-5x5").total_macs() < build_net("vgg-b").total_macs());
}

TEST_CASE("MACs match the published numbers within 1%", "[nets][zoo]") {
    check_macs(build_net("alexnet"), 0.714e9);
    check_macs(build_net("resnet18"), 1.81e9);
    check_macs(build_net("resnet50"), 4.09e9);
    check_macs(build_net("efficientnet-b0"), 0.386e9);
    check_macs(build_net("mobilenet-v1"), 569e6);
    check_macs(build_net("mobilenet-v2"), 300e6);
    // GoogLeNet Table 1 (Szegedy et al.) per layer, in millions of ops: conv1 118, conv2 360,
    // 3a 128, 3b 304, 4a 73, 4b 88, 4c 100, 4d 119, 4e 170, 5a 54, 5b 71, linear 1.
    check_macs(build_net("googlenet"), (118 + 360 + 128 + 304 + 73 + 88 + 100 + 119 + 170 + 54 + 71 + 1) * 1e6);
}

TEST_CASE("GoogLeNet per-module ops follow Table 1 of the paper", "[nets][zoo]") {
    const Graph g = build_net("googlenet");
    auto module_macs = [&](const std::string& prefix) {
        std::int64_t s = 0;
        for (const auto& n : g.nodes)
            if (n.name.rfind(prefix, 0) == 0) s += n.macs;
        return s / 1e6;
    };
    const std::pair<const char*, double> table[] = {
        {"inception3a.", 128}, {"inception3b.", 304}, {"inception4a.", 73}, {"inception4b.", 88},
        {"inception4c.", 100}, {"inception4d.", 119}, {"inception4e.", 170},
        {"inception5a.", 54},  {"inception5b.", 71}};
    for (const auto& [m, ops] : table) {
        INFO(m << " " << module_macs(m) << "M vs Table 1 " << ops << "M");
        // 6%: Table 1 lists 54M for 5a, its own filter counts give 51.1M; the rest agree to 2%.
        CHECK(std::abs(module_macs(m) - ops) <= 0.06 * ops);
    }
    // ~6.8M params (Table 1's rounded column, MobileNet Table 8); ours adds conv biases.
    CHECK(std::abs(g.total_params() / 1e6 - 6.8) < 0.25);
    // Auxiliary heads add parameters and two outputs with loss weight 0.3.
    NetOptions aux;
    aux.aux = true;
    const Graph ga = build_net("googlenet", aux);
    CHECK(ga.outputs.size() == 3);
    CHECK(ga.output_loss_weights[1] == Approx(0.3));
    CHECK(ga.total_params() > g.total_params());
}

TEST_CASE("MobileNet width and resolution multipliers reproduce Tables 6 and 7", "[nets][zoo]") {
    struct Row {
        double width;
        int resolution;
        double macs_m, params_m;
    };
    const Row rows[] = {{1.0, 224, 569, 4.2},  {0.75, 224, 325, 2.6}, {0.5, 224, 149, 1.3},
                        {0.25, 224, 41, 0.5},  {1.0, 192, 418, 4.2},  {1.0, 160, 290, 4.2},
                        {1.0, 128, 186, 4.2}};
    for (const auto& r : rows) {
        NetOptions o;
        o.width = r.width;
        o.resolution = r.resolution;
        const Graph g = build_net("mobilenet-v1", o);
        INFO("width " << r.width << " resolution " << r.resolution);
        CHECK(std::lround(g.total_macs() / 1e6) == Approx(r.macs_m).margin(1));
        CHECK(std::round(g.total_params() / 1e5) / 10 == Approx(r.params_m));
    }
}

TEST_CASE("EfficientNet B0-B7 follow Table 2 of the paper", "[nets][zoo]") {
    // (params in M, FLOPs column in B = MACs) as published, rounded as the paper rounds.
    const std::pair<double, double> table[] = {{5.3, 0.39}, {7.8, 0.70}, {9.2, 1.0}, {12, 1.8},
                                               {19, 4.2},   {30, 9.9},   {43, 19},   {66, 37}};
    for (int i = 0; i < 8; ++i) {
        const Graph g = build_net("efficientnet-b" + std::to_string(i));
        INFO("B" << i << " params " << g.total_params() << " macs " << g.total_macs());
        CHECK(std::abs(g.total_params() / 1e6 - table[i].first) <= 0.06 * table[i].first);
        CHECK(std::abs(g.total_macs() / 1e9 - table[i].second) <= 0.06 * table[i].second);
    }
}

TEST_CASE("EfficientNet compound scaling by (alpha, beta, gamma, phi)", "[nets][zoo]") {
    NetOptions o;
    o.phi = 0;
    CHECK(build_net("efficientnet", o).total_params() == 5'288'548);
    o.phi = 1;  // alpha 1.2, beta 1.1, gamma 1.15 by default: alpha * beta^2 * gamma^2 ~= 1.92
    const Graph g1 = build_net("efficientnet", o);
    CHECK(g1.input_shape().h == 258);
    const double ratio = double(g1.total_macs()) / build_net("efficientnet-b0").total_macs();
    CHECK(ratio > 1.8);
    CHECK(ratio < 2.8);  // rounding of filters and repeats moves it off the formula's 1.92
    // Explicit multipliers take precedence over the compound coefficients.
    NetOptions w;
    w.width = 1.1;
    w.depth = 1.2;
    w.resolution = 260;
    CHECK(build_net("efficientnet", w).total_params() ==
          build_net("efficientnet-b2", [] { NetOptions x; x.dropout = 0.2; return x; }()).total_params());
}

TEST_CASE("every zoo net builds at Fashion-MNIST size or says the smallest resolution",
          "[nets][zoo]") {
    for (const auto& e : zoo()) {
        NetOptions o;
        o.classes = 10;
        o.in_channels = 1;
        o.resolution = 32;
        INFO(e.name);
        try {
            const Graph g = build_net(e.name, o);
            CHECK(g.output().out.c == 10);
            CHECK(g.input_shape() == Shape{1, 32, 32});
        } catch (const deeper::InputError& err) {
            CHECK_THAT(err.what(), Catch::Contains("the smallest it builds at is"));
        }
    }
}

TEST_CASE("GoogLeNet without 1x1 reductions: the 3x3 and 5x5 convs see the module's whole input", "[nets][zoo]") {
    NetOptions naive;
    naive.reductions = false;
    const Graph g = build_net("googlenet"), n = build_net("googlenet", naive);
    auto params = [](const Graph& gr, const std::string& name) {
        REQUIRE(gr.find(name) >= 0);
        return gr.node(gr.find(name)).params;
    };
    // Module 3a (192 input channels, Table 1): 5x5 branch 192 -> 16 -> 32 against 192 -> 32 directly,
    // 3x3 branch 192 -> 96 -> 128 against 192 -> 128; weights plus the paper's conv biases.
    CHECK(params(g, "inception3a.branch3_reduce.conv") + params(g, "inception3a.branch3.conv") ==
          (192 * 16 + 16) + (25 * 16 * 32 + 32));
    CHECK(params(n, "inception3a.branch3.conv") == 25 * 192 * 32 + 32);
    CHECK(params(n, "inception3a.branch2.conv") == 9 * 192 * 128 + 128);
    CHECK(n.find("inception3a.branch3_reduce.conv") < 0);
    // Every module's output width is unchanged, so the net differs only inside the modules.
    CHECK(n.outputs.size() == g.outputs.size());
    CHECK(n.node(n.find("inception5b.concat")).out == g.node(g.find("inception5b.concat")).out);
    CHECK(n.total_macs() > 2.5 * double(g.total_macs()));  // 4.43 G against 1.58 G at 224x224
    CHECK(n.total_params() > 3 * g.total_params());
}

TEST_CASE("AlexNet's activation and pooling knobs change the ops, never the parameters", "[nets][zoo]") {
    NetOptions base;
    base.resolution = 64;
    base.in_channels = 1;
    base.classes = 10;
    NetOptions tanh = base, pool2 = base;
    tanh.activation = "tanh";
    pool2.pool_kernel = 2;
    const Graph g = build_net("alexnet", base), t = build_net("alexnet", tanh), p = build_net("alexnet", pool2);
    auto count = [](const Graph& gr, Op op) {
        return std::count_if(gr.nodes.begin(), gr.nodes.end(), [&](const Node& nd) { return nd.op == op; });
    };
    CHECK(count(g, Op::relu) == 7);  // five convs and two hidden layers
    CHECK(count(t, Op::relu) == 0);
    CHECK(count(t, Op::tanh) == 7);
    CHECK(t.total_params() == g.total_params());
    // 64x64 input: conv1 gives 15x15; 3x3/2 and 2x2/2 pooling both give 7, 3, 1: the same net but
    // for which pixels each pool sees.
    CHECK(p.total_params() == g.total_params());
    CHECK(p.node(p.find("conv1.pool")).out == g.node(g.find("conv1.pool")).out);
    NetOptions bad = base;
    bad.activation = "gelu";
    CHECK_THROWS_WITH(build_net("alexnet", bad), "alexnet: activation must be relu, relu6, swish, sigmoid or tanh, got 'gelu'");
}

TEST_CASE("zero_init_residual marks each residual branch's last batch norm, and only those", "[nets][zoo]") {
    auto zero_scaled = [](const Graph& g) {
        std::vector<std::string> names;
        for (const auto& n : g.nodes)
            if (n.op == Op::batchnorm && std::get<BatchNormAttrs>(n.attrs).zero_scale) names.push_back(n.name);
        return names;
    };
    auto adds = [](const Graph& g) {
        return std::count_if(g.nodes.begin(), g.nodes.end(), [](const Node& n) { return n.op == Op::add; });
    };
    NetOptions o;
    o.resolution = 32;
    o.in_channels = 1;
    o.classes = 10;
    CHECK(zero_scaled(build_net("resnet20", o)).empty());  // off by default
    o.zero_init_residual = true;
    const Graph r = build_net("resnet20", o);
    const auto rz = zero_scaled(r);
    CHECK(std::ptrdiff_t(rz.size()) == adds(r));  // 9 blocks, one add each
    CHECK(rz.size() == 9);
    CHECK(rz.front() == "stage1.block1.bn2");
    const Graph e = build_net("efficientnet-b0", o);
    const auto ez = zero_scaled(e);
    CHECK(std::ptrdiff_t(ez.size()) == adds(e));  // the blocks with a skip: 9 of B0's 16
    CHECK(ez.size() == 9);
    CHECK(ez.front() == "stage2.block2.project.bn");
    NetOptions plain_init = o;
    plain_init.zero_init_residual.reset();
    CHECK(e.total_params() == build_net("efficientnet-b0", plain_init).total_params());
    CHECK_THROWS_WITH(build_net("plain20", o), "plain20: zero_init_residual needs residual blocks; a plain net has none");
}
