// The depthwise weight gradient where oneDNN has only its reference kernel, against the sum in
// double: the AVX-512 loop on channels-innermost layouts and the scalar loop on plain NCHW, in
// fp32 and bf16, with padding, strides, kernels larger than the map and a partial channel
// block.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "runners/engine/layers/channels_innermost.hpp"
#include "runners/engine/layers/dw_kernels.hpp"
#include "support.hpp"

using namespace deeper::runners::layers;
using deeper::test::largest_relative_difference;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

struct Shape {
    int channels, size, k, stride, pad;
};

// dW in double from plain NCHW x {N, C, H, W} and dy {N, C, OH, OW}.
std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& dy, int N, int C, int H, int OH,
                              const Shape& s) {
    std::vector<double> dw(std::size_t(C) * s.k * s.k, 0.0);
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c)
            for (int oh = 0; oh < OH; ++oh)
                for (int ow = 0; ow < OH; ++ow)
                    for (int i = 0; i < s.k; ++i)
                        for (int j = 0; j < s.k; ++j) {
                            const int ih = oh * s.stride - s.pad + i, iw = ow * s.stride - s.pad + j;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= H) continue;
                            dw[(std::size_t(c) * s.k + i) * s.k + j] +=
                                double(dy[((std::size_t(n) * C + c) * OH + oh) * OH + ow]) *
                                x[((std::size_t(n) * C + c) * H + ih) * H + iw];
                        }
    return dw;
}

}  // namespace

TEST_CASE("the depthwise weight gradient of the engine's loops is the sum in double", "[dw_kernels]") {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const int N = 3;
    for (const Shape& s : {Shape{16, 8, 3, 1, 1}, Shape{24, 9, 5, 2, 2}, Shape{40, 2, 5, 1, 2}, Shape{16, 7, 3, 2, 0}})
        for (dt type : {dt::f32, dt::bf16})
            for (tag layout : {tag::nchw, tag::nhwc, tag::nChw16c}) {
                if (layout != tag::nchw && !channels_innermost_kernels_run_here(type)) continue;
                const int C = s.channels, H = s.size, OH = (H + 2 * s.pad - s.k) / s.stride + 1;
                INFO(C << " channels, " << H << "x" << H << ", " << s.k << "x" << s.k << "/s" << s.stride << " pad "
                       << s.pad << ", " << (type == dt::bf16 ? "bf16 " : "f32 ")
                       << (layout == tag::nchw ? "nchw" : layout == tag::nhwc ? "nhwc" : "nChw16c"));
                const memory::dims xdims{N, C, H, H}, ydims{N, C, OH, OH};
                memory x({xdims, type, layout}, eng), dy({ydims, type, layout}, eng);
                memory px({xdims, dt::f32, tag::nchw}, eng), pdy({ydims, dt::f32, tag::nchw}, eng);
                std::mt19937 rng(11);
                std::normal_distribution<float> d(0.f, 1.f);
                for (memory* m : {&px, &pdy}) {
                    float* f = static_cast<float*>(m->get_data_handle());
                    for (std::size_t i = 0; i < m->get_desc().get_size() / sizeof(float); ++i) f[i] = d(rng);
                }
                dnnl::reorder(px, x).execute(strm, px, x);
                dnnl::reorder(pdy, dy).execute(strm, pdy, dy);
                // the reference reads what the layer reads: bf16 rounds the inputs
                dnnl::reorder(x, px).execute(strm, x, px);
                dnnl::reorder(dy, pdy).execute(strm, dy, pdy);
                const float* xf = static_cast<const float*>(px.get_data_handle());
                const float* yf = static_cast<const float*>(pdy.get_data_handle());
                const auto want = reference({xf, xf + N * C * H * H}, {yf, yf + N * C * OH * OH}, N, C, H, OH, s);

                deeper::nets::ConvAttrs a;
                a.kh = a.kw = s.k;
                a.stride = s.stride;
                a.pad_t = a.pad_l = a.pad_b = a.pad_r = s.pad;
                a.groups = a.out_channels = C;
                memory grad({{C, 1, s.k, s.k}, dt::f32, tag::abcd}, eng);
                DepthwiseWeightGrad(a, x, dy, grad).run();
                const float* g = static_cast<const float*>(grad.get_data_handle());
                CHECK(largest_relative_difference(std::vector<float>(g, g + want.size()), want) < 1e-5);
            }
}
