#include "support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>

#include "runners/engine/engine.hpp"
#include "support/reference_net.hpp"

namespace deeper::test {

using runners::Engine;

namespace {

std::size_t elems(const dnnl::memory::dims& d) {
    std::size_t n = 1;
    for (auto x : d) n *= std::size_t(x);
    return n;
}

void compare_grad(const std::string& what, const std::vector<float>& analytic,
                  const std::vector<size_t>& idx, const std::vector<double>& numeric, double rtol) {
    double rms = 0;
    for (float a : analytic) rms += double(a) * a;
    rms = std::sqrt(rms / std::max<size_t>(1, analytic.size()));
    for (size_t p = 0; p < idx.size(); ++p) {
        const double a = analytic[idx[p]], n = numeric[p];
        const double scale = std::max({std::abs(a), std::abs(n), 0.1 * rms, 1e-4});
        INFO(what << "[" << idx[p] << "]: analytic " << a << " numeric " << n << " (rms " << rms << ")");
        CHECK(std::abs(a - n) <= rtol * scale);
    }
}

}  // namespace

void gradcheck(const nets::Graph& g, const GradcheckOptions& o) {
    INFO("net " << g.name << (o.plain_layouts ? " (plain layouts)" : " (blocked layouts)"));
    runners::EngineOptions eo;
    eo.batch = o.batch;
    eo.plain_layouts = o.plain_layouts;
    eo.input_grad = true;
    eo.conv_algorithm = o.conv_algorithm;
    eo.seed = o.seed;
    Engine e(g, eo);
    std::mt19937 rng(o.seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> input(e.input_floats());
    for (auto& v : input) v = normal(rng);
    std::copy(input.begin(), input.end(), e.input());
    e.forward(true);

    auto& store = e.params();
    ParamMap params;
    for (size_t i = 0; i < store.infos().size(); ++i) {
        auto v = store.read_plain(int(i), e.dnnl_engine(), e.stream());
        params[store.info(int(i)).name].assign(v.begin(), v.end());
    }
    std::vector<double> input_d(input.begin(), input.end());
    std::vector<std::vector<float>> r(g.outputs.size());
    for (size_t out = 0; out < r.size(); ++out) {
        r[out].resize(elems(e.output_dims(int(out))));
        for (auto& v : r[out]) v = normal(rng);
    }
    if (!o.engine_differences) {
        const auto ref = reference_forward(g, params, input_d, o.batch);
        for (size_t out = 0; out < g.outputs.size(); ++out) {
            const auto& rv = ref[g.outputs[out]];
            const float* y = e.output(int(out));
            double max_ref = 1e-6, max_diff = 0;
            for (size_t i = 0; i < rv.size(); ++i) {
                max_ref = std::max(max_ref, std::abs(rv[i]));
                max_diff = std::max(max_diff, std::abs(rv[i] - y[i]));
            }
            INFO("forward of output " << out << ": max |engine - reference| " << max_diff
                                      << ", max |reference| " << max_ref);
            CHECK(max_diff <= o.fwd_rtol * std::max(1.0, max_ref));
        }
    }

    for (size_t out = 0; out < r.size(); ++out)
        std::copy(r[out].begin(), r[out].end(), e.output_grad(int(out)));
    e.backward();
    std::vector<float> input_grad(e.input_grad(), e.input_grad() + input.size());

    // L at the current point, from the reference (double) or from the engine (float).
    std::function<double()> loss;
    double eps;
    std::function<void(const std::string&)> sync;  // pushes a changed tensor to the engine
    if (o.engine_differences) {
        eps = 1e-3;
        sync = [&](const std::string& name) {
            if (name.empty()) {
                for (size_t i = 0; i < input.size(); ++i) e.input()[i] = float(input_d[i]);
                return;
            }
            int id = store.find(name);
            std::vector<float> v(params[name].begin(), params[name].end());
            store.write_plain(id, v.data(), e.dnnl_engine(), e.stream());
        };
        loss = [&] {
            e.forward(true);
            double L = 0;
            for (size_t out = 0; out < r.size(); ++out) {
                const float* y = e.output(int(out));
                for (size_t i = 0; i < r[out].size(); ++i) L += double(r[out][i]) * y[i];
            }
            return L;
        };
    } else {
        eps = 1e-6;
        sync = [](const std::string&) {};
        loss = [&] {
            const auto ref = reference_forward(g, params, input_d, o.batch);
            double L = 0;
            for (size_t out = 0; out < r.size(); ++out) {
                const auto& y = ref[g.outputs[out]];
                for (size_t i = 0; i < r[out].size(); ++i) L += double(r[out][i]) * y[i];
            }
            return L;
        };
    }
    auto pick = [&](size_t n) {
        std::vector<size_t> idx;
        for (int p = 0; p < o.probes && n > 0; ++p) idx.push_back(rng() % n);
        return idx;
    };
    auto differences = [&](std::vector<double>& values, const std::string& name,
                           const std::vector<size_t>& idx) {
        std::vector<double> numeric;
        for (size_t i : idx) {
            const double v0 = values[i];
            values[i] = v0 + eps;
            sync(name);
            const double lp = loss();
            values[i] = v0 - eps;
            sync(name);
            const double lm = loss();
            values[i] = v0;
            sync(name);
            numeric.push_back((lp - lm) / (2 * eps));
        }
        return numeric;
    };

    auto idx = pick(input.size());
    compare_grad("d/d input", input_grad, idx, differences(input_d, "", idx), o.rtol);
    for (size_t t = 0; t < store.infos().size(); ++t) {
        const auto& info = store.info(int(t));
        if (info.is_state) continue;
        const auto grad = store.read_plain_grad(int(t), e.dnnl_engine(), e.stream());
        idx = pick(grad.size());
        compare_grad("d/d " + info.name, grad, idx, differences(params[info.name], info.name, idx),
                     o.rtol);
    }
}

void gradcheck_both_layouts(const nets::Graph& g, GradcheckOptions o) {
    o.plain_layouts = false;
    gradcheck(g, o);
    o.plain_layouts = true;
    gradcheck(g, o);
}

}  // namespace deeper::test
