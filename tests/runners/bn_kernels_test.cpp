// The engine's batch-norm kernels and oneDNN's primitives against batch norm in double on the
// same data: statistics, output (also with a residual added before the activation), input and
// parameter gradients, with each activation the kernels fuse (oneDNN's only with none or the
// ReLU it fuses itself), in both layouts
// and types they take, channel counts that leave a partial block (nChw16c's padding lanes
// must come out zero, an NHWC pixel's neighbour untouched), and data whose mean dwarfs its
// spread (a one-pass sum of squares would cancel).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runners/engine/layers/bn_kernels.hpp"
#include "support.hpp"

using namespace deeper::runners::layers;
using deeper::test::largest_relative_difference;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

struct Case {
    dt type;
    tag layout;
    int channels;
    BnActivation act;
    float mean, spread;
};

std::vector<float> plain(const memory& m, const dnnl::engine& eng, dnnl::stream& s) {
    const auto d = m.get_desc().dims();
    memory p({d, dt::f32, tag::nchw}, eng);
    dnnl::reorder(m, p).execute(s, const_cast<memory&>(m), p);
    const float* f = static_cast<const float*>(p.get_data_handle());
    return {f, f + p.get_desc().get_size() / sizeof(float)};
}

// Batch norm in double on plain NCHW data: what both implementations approximate.
struct Reference {
    std::vector<double> mean, var, z, y, dx, dgamma, dbeta;  // z: y before the activation
};

// The activation after the norm and its derivative, at z.
double activate(BnActivation act, double z) {
    switch (act) {
        case BnActivation::relu: return std::max(z, 0.0);
        case BnActivation::relu6: return std::clamp(z, 0.0, 6.0);
        case BnActivation::swish: return z / (1 + std::exp(-z));
        default: return z;
    }
}
double derivative(BnActivation act, double z) {
    const double s = 1 / (1 + std::exp(-z));
    switch (act) {
        case BnActivation::relu: return z > 0 ? 1 : 0;
        case BnActivation::relu6: return z > 0 && z < 6 ? 1 : 0;
        case BnActivation::swish: return s + z * s * (1 - s);
        default: return 1;
    }
}

const char* name(BnActivation act) {
    switch (act) {
        case BnActivation::relu: return "relu";
        case BnActivation::relu6: return "relu6";
        case BnActivation::swish: return "swish";
        default: return "none";
    }
}

Reference reference(const std::vector<float>& x, const std::vector<float>& dy, const std::vector<float>& gamma,
                    const std::vector<float>& beta, int N, int C, int P, BnActivation act) {
    Reference r{std::vector<double>(C),        std::vector<double>(C), std::vector<double>(x.size()),
                std::vector<double>(x.size()), std::vector<double>(x.size()), std::vector<double>(C),
                std::vector<double>(C)};
    auto at = [&](int n, int c, int p) { return (std::size_t(n) * C + c) * P + p; };
    const double count = double(N) * P;
    for (int c = 0; c < C; ++c) {
        double sum = 0, sq = 0, sg = 0, sgx = 0;
        for (int n = 0; n < N; ++n)
            for (int p = 0; p < P; ++p) sum += x[at(n, c, p)];
        const double mean = sum / count;
        for (int n = 0; n < N; ++n)
            for (int p = 0; p < P; ++p) sq += (x[at(n, c, p)] - mean) * (x[at(n, c, p)] - mean);
        const double var = sq / count, inv = 1 / std::sqrt(var + 1e-5);
        std::vector<double> g(std::size_t(N) * P);
        for (int n = 0; n < N; ++n)
            for (int p = 0; p < P; ++p) {
                const std::size_t i = at(n, c, p);
                const double y = (x[i] - mean) * inv * gamma[c] + beta[c];
                r.z[i] = y;
                r.y[i] = activate(act, y);
                const double gi = dy[i] * derivative(act, y);
                g[std::size_t(n) * P + p] = gi;
                sg += gi;
                sgx += gi * (x[i] - mean);
            }
        for (int n = 0; n < N; ++n)
            for (int p = 0; p < P; ++p) {
                const std::size_t i = at(n, c, p);
                r.dx[i] = gamma[c] * inv * (g[std::size_t(n) * P + p] - sg / count - (x[i] - mean) * inv * inv * sgx / count);
            }
        r.mean[c] = mean, r.var[c] = var, r.dgamma[c] = sgx * inv, r.dbeta[c] = sg;
    }
    return r;
}

}  // namespace

TEST_CASE("the engine's batch-norm kernels agree with batch norm in double, as oneDNN's do", "[bn_kernels]") {
    if (!channels_innermost_kernels_run_here(dt::f32)) {
        WARN("no AVX-512: the engine's batch-norm kernels do not run here");
        return;
    }
    const bool bf16 = channels_innermost_kernels_run_here(dt::bf16);
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream s(eng);
    std::vector<Case> cases;
    for (tag layout : {tag::nChw16c, tag::nhwc})
        for (dt type : {dt::f32, dt::bf16})
            for (int channels : {16, 24, 40})
                for (BnActivation act :
                     {BnActivation::none, BnActivation::relu, BnActivation::relu6, BnActivation::swish})
                    if (type == dt::f32 || bf16) cases.push_back({type, layout, channels, act, 0.5f, 2.f});
    // no ReLU: a mask tie at every rounding
    cases.push_back({dt::f32, tag::nChw16c, 16, BnActivation::none, 1000.f, 0.01f});
    for (const Case& k : cases) {
        const bool is_bf16 = k.type == dt::bf16;
        INFO((is_bf16 ? "bf16 " : "f32 ") << (k.layout == tag::nhwc ? "nhwc" : "nChw16c") << ", " << k.channels
                                          << " channels, " << name(k.act) << ", mean " << k.mean);
        const memory::dims dims = {6, k.channels, 5, 7};
        const memory::desc md(dims, k.type, k.layout);
        const auto layout = channels_innermost_layout(md);
        REQUIRE(layout);
        memory x(md, eng), y(md, eng), dy(md, eng), dx(md, eng), y_own(md, eng), dx_own(md, eng), y_sum(md, eng);
        {  // inputs from plain fp32; outputs start as garbage (NaN bits) to see what gets written
            memory px({dims, dt::f32, tag::nchw}, eng), pdy({dims, dt::f32, tag::nchw}, eng);
            std::mt19937 rng(7);
            std::normal_distribution<float> d(0.f, 1.f);
            float* a = static_cast<float*>(px.get_data_handle());
            float* b = static_cast<float*>(pdy.get_data_handle());
            for (std::size_t i = 0; i < px.get_desc().get_size() / sizeof(float); ++i) {
                a[i] = k.mean + k.spread * d(rng);
                b[i] = d(rng);
            }
            dnnl::reorder(px, x).execute(s, px, x);
            dnnl::reorder(pdy, dy).execute(s, pdy, dy);
            for (memory* m : {&y_own, &dx_own, &y_sum}) std::memset(m->get_data_handle(), 0xff, md.get_size());
        }
        const int C = k.channels;
        std::vector<float> gamma(C), beta(C);
        const float wide = k.act == BnActivation::relu6 ? 4.f : 1.f;  // so that ReLU6 clips some values at 6
        for (int c = 0; c < C; ++c) gamma[c] = wide * (0.5f + 0.05f * c), beta[c] = 0.1f * (c % 5) - 0.2f;

        // oneDNN, which fuses no activation but the ReLU (its results are checked only then)
        const bool onednn_fuses = k.act == BnActivation::none || k.act == BnActivation::relu;
        auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
        if (k.act == BnActivation::relu) flags |= dnnl::normalization_flags::fuse_norm_relu;
        dnnl::batch_normalization_forward::primitive_desc fwd({dnnl::prop_kind::forward_training, md, 1e-5f, flags}, eng);
        dnnl::batch_normalization_backward::primitive_desc bwd({dnnl::prop_kind::backward, md, md, 1e-5f, flags}, eng, fwd);
        const memory::desc vec({C}, dt::f32, tag::a);
        memory mean(vec, eng), var(vec, eng), sc(vec, eng, gamma.data()), sh(vec, eng, beta.data()), dsc(vec, eng),
            dsh(vec, eng), ws(fwd.workspace_desc(), eng);
        dnnl::batch_normalization_forward(fwd).execute(s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}, {DNNL_ARG_MEAN, mean},
                                                          {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCALE, sc},
                                                          {DNNL_ARG_SHIFT, sh}, {DNNL_ARG_WORKSPACE, ws}});
        dnnl::batch_normalization_backward(bwd).execute(
            s, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var},
                {DNNL_ARG_SCALE, sc}, {DNNL_ARG_SHIFT, sh}, {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_DIFF_SRC, dx},
                {DNNL_ARG_DIFF_SCALE, dsc}, {DNNL_ARG_DIFF_SHIFT, dsh}});

        // the engine's kernels, with the per-channel algebra BatchNormLayer does
        std::vector<float> m(C), v(C), a(C), inv(C), sg(C), sgx(C), c1(C), c0(C), dgamma(C), dbeta(C);
        BnScratch scratch(*layout);
        bn_statistics(*layout, scratch, x.get_data_handle(), m.data(), v.data());
        for (int c = 0; c < C; ++c) {
            inv[c] = 1.f / std::sqrt(v[c] + 1e-5f);
            a[c] = gamma[c] * inv[c];
        }
        bn_apply(*layout, x.get_data_handle(), nullptr, y_own.get_data_handle(), m.data(), a.data(), beta.data(),
                 k.act);
        // dy serves as the residual: act(z + dy)
        bn_apply(*layout, x.get_data_handle(), dy.get_data_handle(), y_sum.get_data_handle(), m.data(), a.data(),
                 beta.data(), k.act);
        bn_backward_sums(*layout, scratch, x.get_data_handle(), dy.get_data_handle(), m.data(), a.data(), beta.data(), k.act,
                         sg.data(), sgx.data());
        const double count = 6.0 * 5 * 7;
        for (int c = 0; c < C; ++c) {
            dgamma[c] = sgx[c] * inv[c];
            dbeta[c] = sg[c];
            const double q = a[c] / count;
            c1[c] = float(-q * inv[c] * inv[c] * sgx[c]);
            c0[c] = float(-q * sg[c]);
        }
        bn_backward_data(*layout, x.get_data_handle(), dy.get_data_handle(), dx_own.get_data_handle(), m.data(), a.data(),
                         beta.data(), c1.data(), c0.data(), k.act);

        // Both against the double reference on the data as stored (bf16: rounded). The fused
        // ReLU's mask is the same on this data but for a tie, and neither output rounds twice.
        const Reference r = reference(plain(x, eng, s), plain(dy, eng, s), gamma, beta, 6, C, 35, k.act);
        const bool extreme = k.mean > 100 * k.spread;  // the mean's own rounding moves y by ~1e-3
        const double tol = is_bf16 ? 2e-2 : extreme ? 2e-2 : 1e-4;
        for (int c = 0; c < C; ++c) {
            CHECK(m[c] == Approx(r.mean[c]).epsilon(1e-6).margin(1e-6));
            CHECK(v[c] == Approx(r.var[c]).epsilon(1e-4));
        }
        CHECK(largest_relative_difference(plain(y_own, eng, s), r.y) < tol);
        {
            const std::vector<float> residual = plain(dy, eng, s);
            std::vector<double> want(r.z.size());
            for (std::size_t i = 0; i < want.size(); ++i) want[i] = activate(k.act, r.z[i] + residual[i]);
            CHECK(largest_relative_difference(plain(y_sum, eng, s), want) < tol);
        }
        CHECK(largest_relative_difference(plain(dx_own, eng, s), r.dx) < tol);
        CHECK(largest_relative_difference(dgamma, r.dgamma) < tol);
        CHECK(largest_relative_difference(dbeta, r.dbeta) < tol);
        if (!extreme && onednn_fuses) {  // the reference is oneDNN's batch norm (in fp32 its statistics cancel there)
            CHECK(largest_relative_difference(plain(y, eng, s), r.y) < tol);
            CHECK(largest_relative_difference(plain(dx, eng, s), r.dx) < tol);
            const float* ref_dgamma = static_cast<const float*>(dsc.get_data_handle());
            CHECK(largest_relative_difference(std::vector<float>(ref_dgamma, ref_dgamma + C), r.dgamma) < tol);
        }
        if (k.layout == tag::nChw16c && C % 16) {  // the padding lanes of the last block: zeros
            const std::size_t esize = is_bf16 ? 2 : 4, pixels = 35, blocks = (C + 15) / 16;
            for (const memory* out : {&y_own, &dx_own, &y_sum}) {
                const auto* bytes = static_cast<const unsigned char*>(out->get_data_handle());
                bool zero = true;
                for (std::size_t n = 0; n < 6; ++n)
                    for (std::size_t p = 0; p < pixels; ++p)
                        for (std::size_t lane = C % 16; lane < 16; ++lane) {
                            const std::size_t i = ((n * blocks + blocks - 1) * pixels + p) * 16 + lane;
                            for (std::size_t byte = 0; byte < esize; ++byte) zero = zero && bytes[i * esize + byte] == 0;
                        }
                CHECK(zero);
            }
        }
    }
}

TEST_CASE("the fused swish and its gradient hold to float precision from z = -200 to 200", "[bn_kernels]") {
    if (!channels_innermost_kernels_run_here(dt::f32)) {
        WARN("no AVX-512: the engine's batch-norm kernels do not run here");
        return;
    }
    // One image of 16 channels whose pixels step z through the range (mean 0, scale 1, shift
    // 0: z = x); dy = 1, c1 = c0 = 0, so dx is swish'(z).
    const int pixels = 4001;
    const auto l = channels_innermost_layout(memory::desc({1, 16, 1, pixels}, dt::f32, tag::nhwc));
    REQUIRE(l);
    std::vector<float> x(16 * pixels), y(x.size()), ones(x.size(), 1.f), dx(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = -200.f + 400.f * float(i) / float(x.size() - 1);
    const std::vector<float> zeros(16, 0.f), unit(16, 1.f);
    bn_apply(*l, x.data(), nullptr, y.data(), zeros.data(), unit.data(), zeros.data(), BnActivation::swish);
    bn_backward_data(*l, x.data(), ones.data(), dx.data(), zeros.data(), unit.data(), zeros.data(), zeros.data(),
                     zeros.data(), BnActivation::swish);
    double worst_y = 0, worst_dx = 0, worst_tail = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double z = x[i], s = 1 / (1 + std::exp(-z)), want = z * s, slope = s + z * s * (1 - s);
        if (z >= -80) worst_y = std::max(worst_y, std::abs(y[i] - want) / std::max(std::abs(want), 1e-30));
        else worst_tail = std::max(worst_tail, double(std::abs(y[i])));  // ~1e-35 * z where e^-z would overflow
        worst_dx = std::max(worst_dx, std::abs(dx[i] - slope));
    }
    CHECK(worst_y < 1e-6);
    CHECK(worst_tail < 1e-30);
    CHECK(worst_dx < 1e-6);
}

TEST_CASE("the engine's batch-norm kernels take only the layouts they know", "[bn_kernels]") {
    if (!channels_innermost_kernels_run_here(dt::f32)) {
        WARN("no AVX-512: the engine's batch-norm kernels do not run here");
        return;
    }
    CHECK_FALSE(channels_innermost_layout(memory::desc({2, 16, 4, 4}, dt::f32, tag::nchw)));
    CHECK_FALSE(channels_innermost_layout(memory::desc({2, 16, 4, 4}, dt::f32, tag::nChw8c)));
    CHECK_FALSE(channels_innermost_layout(memory::desc({2, 16}, dt::f32, tag::nc)));
    CHECK_FALSE(channels_innermost_layout(memory::desc({2, 16, 4, 4}, dt::s8, tag::nhwc)));
    const auto nhwc = channels_innermost_layout(memory::desc({2, 24, 4, 5}, dt::f32, tag::nhwc));
    REQUIRE(nhwc);
    CHECK(nhwc->blocks == 2);
    CHECK(nhwc->pixel == 24);
    CHECK_FALSE(nhwc->padded);
    const auto blocked = channels_innermost_layout(memory::desc({2, 24, 4, 5}, dt::f32, tag::nChw16c));
    REQUIRE(blocked);
    CHECK(blocked->block == 16 * 20);
    CHECK(blocked->image == 32 * 20);
    CHECK(blocked->padded);
}
