// Every op of the engine: forward against the naive reference, backward against finite
// differences, in oneDNN's blocked layouts and in plain NCHW, with buffers that start as NaN
// (gradcheck_both_layouts). First the sweeps: registries of cases generated over the
// parameters each op takes (ggml's test-backend-ops), each named by its parameters, so a
// failure says which one; then the cases that exercise one path on purpose.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <functional>
#include <string>
#include <vector>

#include "nets/builder.hpp"
#include "runners/engine/layers/gemm_conv.hpp"
#include "runners/engine/precision.hpp"
#include "support/gradcheck.hpp"

using namespace deeper::nets;
using deeper::test::gradcheck;
using deeper::test::GradcheckOptions;
using deeper::test::gradcheck_both_layouts;

namespace {

struct OpCase {
    std::string name;  // the parameters, printed when the case fails
    std::function<Graph()> build;
    GradcheckOptions options = {};
};

void run_cases(const std::vector<OpCase>& cases) {
    for (const auto& c : cases) {
        INFO("case " << c.name);
        gradcheck_both_layouts(c.build(), c.options);
    }
}

// Convolutions over kernel, stride, groups (dense, grouped, depthwise), map size (smaller than
// the kernel included: the cut kernels) and channels (8: oneDNN's narrow paths; 16: blocked).
std::vector<OpCase> conv_cases() {
    std::vector<OpCase> cases;
    for (int k : {1, 3, 5})
        for (int stride : {1, 2})
            for (int channels : {8, 16})
                for (int groups : {1, 2, channels})
                    for (int map : {1, 2, 5}) {
                        const std::string name = fmt::format("conv k{} s{} c{} g{} map{}", k, stride, channels, groups, map);
                        cases.push_back({name, [=] {
                                             Builder b(name, Shape{channels, map, map});
                                             int x = b.conv(b.input(), channels, k, stride, groups, groups == 1, "conv");
                                             b.conv(x, 8, 1, 1, 1, false, "after");
                                             return b.finish();
                                         }});
                    }
    return cases;
}

// Pooling over kind, window, stride, padding, rounding mode and map size.
std::vector<OpCase> pool_cases() {
    std::vector<OpCase> cases;
    for (bool max : {true, false})
        for (int k : {2, 3})
            for (int stride : {1, 2})
                for (int pad : {0, 1})
                    for (bool ceil : {false, true})
                        for (int map : {4, 7}) {
                            const std::string name = fmt::format("{} pool k{} s{} p{} {} map{}", max ? "max" : "avg",
                                                                 k, stride, pad, ceil ? "ceil" : "floor", map);
                            OpCase c{name, [=] {
                                         Builder b(name, Shape{16, map, map});
                                         int x = b.conv(b.input(), 16, 1, 1, 1, false, "conv");
                                         if (max) b.max_pool(x, k, stride, pad, ceil, "pool");
                                         else b.avg_pool(x, k, stride, pad, ceil, "pool");
                                         return b.finish();
                                     }};
                            // bf16 rounds near-equal window values to equal ones and the max
                            // takes another element's gradient: a tie, not an error (the named
                            // pooling case and the nets check bf16 max pooling normwise).
                            c.options.also_bf16 = !max;
                            cases.push_back(std::move(c));
                        }
    return cases;
}

// Activations over kind, channels (8: padded in blocked layouts; 16; 24) and map size, after a
// conv (its output layout) and before one (the gradient's way back).
std::vector<OpCase> activation_cases() {
    std::vector<OpCase> cases;
    for (Op act : {Op::relu, Op::relu6, Op::swish, Op::sigmoid, Op::tanh})
        for (int channels : {8, 16, 24})
            for (int map : {1, 4}) {
                const std::string name = fmt::format("{} c{} map{}", op_name(act), channels, map);
                cases.push_back({name, [=] {
                                     Builder b(name, Shape{channels, map, map});
                                     int x = b.conv(b.input(), channels, 3, 1, 1, true, "conv");
                                     x = b.activation(x, act, "act");
                                     b.conv(x, 8, 1, 1, 1, false, "after");
                                     return b.finish();
                                 }});
            }
    return cases;
}

// Batch normalization alone and fused with a ReLU, over channels and map size (a 1x1 map:
// statistics over the batch alone).
std::vector<OpCase> batchnorm_cases() {
    std::vector<OpCase> cases;
    for (bool fused : {false, true})
        for (int channels : {8, 16})
            for (int map : {1, 3}) {
                const std::string name = fmt::format("batchnorm{} c{} map{}", fused ? "+relu" : "", channels, map);
                OpCase c{name, [=] {
                             Builder b(name, Shape{channels, map, map});
                             int x = b.conv(b.input(), channels, 1, 1, 1, false, "conv");
                             x = b.batchnorm(x, "bn");
                             if (fused) x = b.relu(x, "relu");
                             b.conv(x, 8, 1, 1, 1, false, "after");
                             return b.finish();
                         }};
                c.options.batch = 4;
                c.options.fwd_rtol = 1e-3;
                cases.push_back(std::move(c));
            }
    return cases;
}

// Fully connected layers over input shape (4D flattened, or 2D) and width, with and without bias.
std::vector<OpCase> linear_cases() {
    std::vector<OpCase> cases;
    for (int map : {1, 3})
        for (int out : {1, 10, 33})
            for (bool bias : {false, true}) {
                const std::string name = fmt::format("linear map{} out{}{}", map, out, bias ? " bias" : "");
                cases.push_back({name, [=] {
                                     Builder b(name, Shape{16, map, map});
                                     int x = b.linear(b.flatten(b.input()), 20, true, "fc1");
                                     b.linear(x, out, bias, "fc2");
                                     return b.finish();
                                 }});
            }
    return cases;
}

}  // namespace

TEST_CASE("conv sweep: kernel, stride, groups, channels, map size", "[engine][ops][registry]") { run_cases(conv_cases()); }

TEST_CASE("activation sweep: kind, channels, map size", "[engine][ops][registry]") { run_cases(activation_cases()); }

TEST_CASE("batchnorm sweep: alone and fused with ReLU, channels, map size", "[engine][ops][registry]") {
    run_cases(batchnorm_cases());
}

TEST_CASE("linear sweep: input shape, width, bias", "[engine][ops][registry]") { run_cases(linear_cases()); }

TEST_CASE("pooling sweep: kind, window, stride, padding, rounding, map size", "[engine][ops][registry]") {
    run_cases(pool_cases());
}

TEST_CASE("conv: plain, strided, padded, with bias", "[engine][ops]") {
    Builder b("conv", Shape{3, 7, 7});
    int x = b.conv(b.input(), 16, 3, 1, 1, true, "c1");
    x = b.conv(x, 8, 3, 2, 1, false, "c2");
    x = b.conv(x, 16, 1, 1, 1, true, "c3");
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("conv: Winograd and direct in every pass", "[engine][ops]") {
    Builder b("winograd", Shape{32, 8, 8});
    int x = b.conv(b.input(), 32, 3, 1, 1, true, "c1");
    b.conv(x, 48, 3, 1, 1, false, "c2");
    const Graph g = b.finish();
    for (auto alg : {deeper::runners::ConvAlgorithm::winograd, deeper::runners::ConvAlgorithm::direct,
                     deeper::runners::ConvAlgorithm::automatic}) {
        GradcheckOptions o;
        o.conv_algorithm = alg;
        o.fwd_rtol = 1e-3;  // Winograd's transforms round differently
        gradcheck(g, o);
    }
}

TEST_CASE("conv as im2col + matmul: padded, strided, 1x1, 5x5, asymmetric padding, bias", "[engine][ops]") {
    Builder b("gemm", Shape{16, 7, 7});
    int x = b.conv(b.input(), 32, 3, 1, 1, true, "c3");   // padded, with bias
    x = b.conv(x, 16, 3, 2, 1, false, "s2");              // strided: 7 -> 4
    x = b.conv(x, 32, 1, 1, 1, true, "p1");               // 1x1: the input is its own matrix
    x = b.conv(x, 16, 5, 1, 1, false, "c5");              // taps past both edges of a 4x4 map
    ConvAttrs asym;                                       // TensorFlow's SAME: pad 0 before, 1 after
    asym.out_channels = 16, asym.kh = asym.kw = 3, asym.stride = 2, asym.pad_b = asym.pad_r = 1;
    b.conv(x, asym, "same");
    GradcheckOptions o;
    o.conv_algorithm = deeper::runners::ConvAlgorithm::gemm;
    o.plain_layouts = false;  // im2col + matmul reads NHWC; plain layouts keep the convolutions
    const Graph g = b.finish();
    gradcheck(g, o);
    if (deeper::runners::cpu_has_bf16()) gradcheck(g, deeper::test::bf16_options(o));
}

TEST_CASE("conv as the engine's Winograd F(2x2, 3x3): odd maps, no padding, asymmetric and wide padding, bias",
          "[engine][ops]") {
    Builder b("winograd-f2", Shape{16, 7, 7});
    int x = b.conv(b.input(), 32, 3, 1, 1, true, "c1");  // 7x7: the last tile row and column half outside
    x = b.conv(x, 16, 3, 1, 1, false, "valid", 0);      // no padding: 7 -> 5
    ConvAttrs asym;                                       // padded after only: 5 -> 4
    asym.out_channels = 24, asym.kh = asym.kw = 3, asym.pad_b = asym.pad_r = 1;
    x = b.conv(x, asym, "after");
    b.conv(x, 16, 3, 1, 1, true, "wide", 2);              // pad 2: windows wholly in the padding, 4 -> 6
    GradcheckOptions o;
    o.conv_algorithm = deeper::runners::ConvAlgorithm::winograd_f2;
    o.plain_layouts = false;  // the transforms read NHWC; plain layouts keep the convolutions
    const Graph g = b.finish();
    gradcheck(g, o);
    if (deeper::runners::cpu_has_bf16()) gradcheck(g, deeper::test::bf16_options(o));
}

TEST_CASE("conv as im2col + matmul: images per chunk divide the batch within the budget", "[engine][ops]") {
    using deeper::runners::layers::gemm_chunk_images;
    CHECK(gemm_chunk_images(128, 64, 2304, std::int64_t(1) << 22) == 16);   // 28 would fit; 16 divides 128
    CHECK(gemm_chunk_images(128, 4, 4608, std::int64_t(1) << 22) == 128);   // the whole batch fits
    CHECK(gemm_chunk_images(6, 10, 10, 250) == 2);                          // 3 would exceed, 2 divides 6
    CHECK(gemm_chunk_images(7, 10, 10, 600) == 1);                          // a prime batch: one at a time
    CHECK(gemm_chunk_images(4, 1000, 1000, 10) == 1);                       // never less than one image
}

TEST_CASE("conv: grouped and depthwise, 5x5", "[engine][ops]") {
    Builder b("grouped", Shape{16, 6, 6});
    int x = b.conv(b.input(), 32, 3, 1, 2, false, "grouped");
    x = b.conv(x, 32, 5, 2, 32, false, "depthwise");
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("conv: 8 channels, where the forward's layouts leave only reference backward kernels",
          "[engine][ops]") {
    // The forward keeps plain src and 16c-padded dst; backward passes pick their own layouts.
    Builder b("narrow", Shape{8, 10, 10});
    int x = b.conv(b.input(), 8, 3, 1, 1, false, "c1");
    b.conv(x, 8, 3, 1, 1, true, "c2");
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("conv: depthwise on maps smaller than the kernel", "[engine][ops]") {
    // oneDNN 2.6 has only its reference backward-weights kernel here; the engine's own loop
    // takes over.
    Builder b("small-depthwise", Shape{32, 2, 2});
    int x = b.conv(b.input(), 32, 5, 1, 32, false, "dw5");
    b.conv(x, 32, 3, 1, 32, false, "dw3");
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("conv: kernels larger than their maps run cut to the taps that meet the map", "[engine][ops]") {
    // 5x5 depthwise on 1x1 (one tap), 5x5/2 depthwise on 2x2 (2x2 taps), dense 3x3 with bias
    // on 1x1: the taps that only meet padding must get an exact zero gradient.
    Builder b("cropped", Shape{16, 2, 2});
    int x = b.conv(b.input(), 16, 5, 2, 16, false, "dw5s2");
    x = b.conv(x, 16, 5, 1, 16, false, "dw5");
    b.conv(x, 24, 3, 1, 1, true, "dense3");
    const Graph g = b.finish();
    gradcheck_both_layouts(g);
    // Weights written into the store between steps reach the cut kernels.
    GradcheckOptions o;
    o.engine_differences = true;
    gradcheck_both_layouts(g, o);
}

TEST_CASE("batchnorm alone and fused with ReLU", "[engine][ops]") {
    Builder b("bn", Shape{16, 5, 5});
    int x = b.batchnorm(b.input(), "bn1");
    x = b.conv(x, 16, 3, 1, 1, false, "conv");
    x = b.relu(b.batchnorm(x, "bn2"), "relu");  // fused
    GradcheckOptions o;
    o.batch = 4;
    o.fwd_rtol = 1e-3;
    gradcheck_both_layouts(b.finish(), o);
}

TEST_CASE("pooling: overlapping max 3x3/2 in ceil mode, average, global average", "[engine][ops]") {
    Builder b("pool", Shape{16, 9, 9});
    int x = b.max_pool(b.input(), 3, 2, 0, true, "max");
    x = b.avg_pool(x, 3, 1, 1, false, "avg");
    x = b.global_avg_pool(x, "gap");
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("local response normalization", "[engine][ops]") {
    Builder b("lrn", Shape{16, 4, 4});
    int x = b.conv(b.input(), 16, 3, 1, 1, false, "conv");
    LrnAttrs a;
    a.alpha = 0.5f;  // large enough to matter on unit-scale inputs
    x = b.lrn(x, a);
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("residual add and the option-A zero-padded shortcut", "[engine][ops]") {
    Builder b("residual", Shape{16, 6, 6});
    int x = b.input();
    int y = b.conv(x, 32, 3, 2, 1, false, "conv");
    int s = b.zero_pad_shortcut(x, 32, 2);
    b.add(y, s);
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("residual adds summed by the engine's batch norm, with a ReLU taking a gradient part and without",
          "[engine][ops]") {
    // add1's ReLU backward also adds c2's part of y's gradient (relu_grad_sum)
    for (int channels : {16, 24}) {  // 24: nChw16c's padded block in fp32
        Builder b(fmt::format("bn-sums c{}", channels), Shape{8, 5, 5});
        const int x = b.conv(b.input(), channels, 3, 1, 1, false, "pre");
        const int y = b.relu(b.add(b.batchnorm(b.conv(x, channels, 3, 1, 1, false, "c1"), "bn1"), x, "add1"), "relu");
        b.add(b.batchnorm(b.conv(y, channels, 3, 1, 1, false, "c2"), "bn2"), y, "add2");
        GradcheckOptions o;
        o.batch = 4;
        o.fwd_rtol = 1e-3;
        o.bf16_against_fp32 = true;  // two convs + bns in bf16: normwise, as the nets are checked
        deeper::runners::ConvForm own;
        own.own_bn = true;
        o.conv_plan = {{"c1", own}, {"c2", own}};
        gradcheck_both_layouts(b.finish(), o);
    }
}

namespace {

// The shortcut reading a conv's output, so both sides are in the engine's layouts (nChw16c in
// fp32, nhwc in bf16 on AMX): channel counts that fill one block, two, and part of one (8: the
// padded channels; 24: a run cut short), odd and even maps.
std::vector<OpCase> zero_pad_cases() {
    std::vector<OpCase> cases;
    for (int channels : {8, 16, 24})
        for (int stride : {1, 2})
            for (int map : {5, 6}) {
                const std::string name = fmt::format("zero pad c{}->{} s{} map{}", channels, 2 * channels, stride, map);
                cases.push_back({name, [=] {
                                     Builder b(name, Shape{8, map, map});
                                     int x = b.conv(b.input(), channels, 3, 1, 1, false, "pre");
                                     int y = b.conv(x, 2 * channels, 3, stride, 1, false, "conv");
                                     b.add(y, b.zero_pad_shortcut(x, 2 * channels, stride));
                                     return b.finish();
                                 }});
            }
    return cases;
}

}  // namespace

TEST_CASE("the zero-padded shortcut on the engine's layouts, over channels, strides and maps", "[engine][ops]") {
    run_cases(zero_pad_cases());
}

TEST_CASE("squeeze-and-excitation channel scale", "[engine][ops]") {
    Builder b("se", Shape{16, 5, 5});
    int x = b.conv(b.input(), 16, 3, 1, 1, false, "conv");
    int p = b.global_avg_pool(x, "pool");
    p = b.conv(p, 4, 1, 1, 1, true, "reduce");
    p = b.activation(p, Op::swish, "act");
    p = b.conv(p, 16, 1, 1, 1, true, "expand");
    p = b.activation(p, Op::sigmoid, "gate");
    b.channel_scale(x, p);
    gradcheck_both_layouts(b.finish());
}

TEST_CASE("concat along channels, aligned and unaligned", "[engine][ops]") {
    for (int c1 : {16, 8}) {
        Builder b("concat", Shape{8, 4, 4});
        int x = b.input();
        int a = b.conv(x, c1, 1, 1, 1, false, "a");
        int c = b.conv(x, 16, 3, 1, 1, false, "b");
        int d = b.max_pool(x, 3, 1, 1, false, "pool");
        b.conv(b.concat({a, c, d}), 8, 1, 1, 1, false, "after");
        gradcheck_both_layouts(b.finish());
    }
}

TEST_CASE("dropout and drop-connect: gradients through a fixed mask", "[engine][ops]") {
    Builder b("drop", Shape{16, 4, 4});
    int x = b.conv(b.input(), 16, 3, 1, 1, false, "conv");
    int y = b.dropout(x, 0.3f);
    int z = b.drop_connect(y, 0.5f);
    b.add(z, x);
    GradcheckOptions o;
    o.batch = 4;
    o.engine_differences = true;  // the reference draws no masks; see the mask test
    gradcheck_both_layouts(b.finish(), o);
}
