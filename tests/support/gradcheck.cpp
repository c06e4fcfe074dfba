#include "support/gradcheck.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
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
                  const std::vector<size_t>& idx, const std::vector<double>& numeric, double rtol,
                  double rms_floor) {
    double rms = 0;
    for (float a : analytic) rms += double(a) * a;
    rms = std::sqrt(rms / std::max<size_t>(1, analytic.size()));
    for (size_t p = 0; p < idx.size(); ++p) {
        const double a = analytic[idx[p]], n = numeric[p];
        const double scale = std::max({std::abs(a), std::abs(n), rms_floor * rms, 1e-4});
        INFO(what << "[" << idx[p] << "]: analytic " << a << " numeric " << n << " (rms " << rms << ")");
        CHECK(std::abs(a - n) <= rtol * scale);
    }
}

double norm(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double(x) * x;
    return std::sqrt(s);
}

}  // namespace

void gradcheck(const nets::Graph& g, const GradcheckOptions& o) {
    INFO("net " << g.name << (o.plain_layouts ? " (plain layouts, " : " (blocked layouts, ")
                << runners::precision_name(o.precision) << (o.share_memory ? "" : ", no memory sharing") << ")");
    runners::EngineOptions eo;
    eo.batch = o.batch;
    eo.plain_layouts = o.plain_layouts;
    eo.input_grad = true;
    eo.conv_algorithm = o.conv_algorithm;
    eo.conv_plan = o.conv_plan;
    eo.precision = o.precision;
    eo.keep_fp32_where_faster = false;  // every conv in bf16, however small its map
    eo.seed = o.seed;
    eo.share_memory = o.share_memory;
    eo.poison = o.poison;
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
    {  // NaN anywhere: a read of a buffer nothing wrote (the arena starts poisoned)
        std::vector<std::pair<std::string, std::vector<float>>> all = {{"input gradient", input_grad}};
        for (size_t out = 0; out < r.size(); ++out)
            all.push_back({"output " + std::to_string(out),
                           std::vector<float>(e.output(int(out)), e.output(int(out)) + r[out].size())});
        for (size_t t = 0; t < store.infos().size(); ++t)
            if (!store.info(int(t)).is_state && store.info(int(t)).trainable)
                all.push_back({"gradient of " + store.info(int(t)).name,
                               store.read_plain_grad(int(t), e.dnnl_engine(), e.stream())});
        for (const auto& [what, v] : all) {
            const auto bad = std::find_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); });
            INFO(what << ": element " << (bad - v.begin()) << " of " << v.size() << " is not finite");
            CHECK(bad == v.end());
        }
    }

    if (o.bf16_against_fp32 && o.precision != runners::Precision::f32) {
        // The same point in fp32 (dropout masks depend on seed and step only).
        runners::EngineOptions f32o = eo;
        f32o.precision = runners::Precision::f32;
        Engine f(g, f32o);
        std::copy(input.begin(), input.end(), f.input());
        f.forward(true);
        for (size_t out = 0; out < r.size(); ++out)
            std::copy(r[out].begin(), r[out].end(), f.output_grad(int(out)));
        f.backward();
        std::vector<std::pair<std::string, std::pair<std::vector<float>, std::vector<float>>>> tensors;
        tensors.push_back({"input", {input_grad, std::vector<float>(f.input_grad(), f.input_grad() + input.size())}});
        for (size_t t = 0; t < store.infos().size(); ++t)
            if (!store.info(int(t)).is_state)
                tensors.push_back({store.info(int(t)).name,
                                   {store.read_plain_grad(int(t), e.dnnl_engine(), e.stream()),
                                    f.params().read_plain_grad(int(t), f.dnnl_engine(), f.stream())}});
        double largest = 0;
        for (const auto& [name, g2] : tensors) largest = std::max(largest, norm(g2.second));
        for (const auto& [name, g2] : tensors) {
            std::vector<float> diff(g2.first.size());
            for (size_t i = 0; i < diff.size(); ++i) diff[i] = g2.first[i] - g2.second[i];
            // a gradient far smaller than the others (a bias before a batchnorm vanishes in
            // exact arithmetic) is held to 1% of the largest: its rounding noise comes from
            // terms of the others' size
            const double scale = std::max(norm(g2.second), 1e-2 * largest);
            INFO("d/d " << name << ": |bf16 - fp32| " << norm(diff) << ", |fp32| " << norm(g2.second) << ", largest " << largest);
            CHECK(norm(diff) <= o.bf16_norm_rtol * scale);
        }
        return;
    }

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
    compare_grad("d/d input", input_grad, idx, differences(input_d, "", idx), o.rtol, o.rms_floor);
    for (size_t t = 0; t < store.infos().size(); ++t) {
        const auto& info = store.info(int(t));
        if (info.is_state) continue;
        const auto grad = store.read_plain_grad(int(t), e.dnnl_engine(), e.stream());
        idx = pick(grad.size());
        compare_grad("d/d " + info.name, grad, idx, differences(params[info.name], info.name, idx),
                     o.rtol, o.rms_floor);
    }
}

GradcheckOptions bf16_options(GradcheckOptions o) {
    o.precision = runners::Precision::bf16;
    o.fwd_rtol = std::max(o.fwd_rtol, 3e-2);
    o.rtol = std::max(o.rtol, 5e-2);
    o.rms_floor = 0.5;
    o.bf16_against_fp32 = o.bf16_against_fp32 || o.engine_differences;
    return o;
}

void gradcheck_both_layouts(const nets::Graph& g, GradcheckOptions o) {
    for (bool bf16 : {false, true}) {
        if (bf16 && !o.also_bf16) continue;
        if (bf16 && !runners::cpu_has_bf16()) {
            WARN("bf16 checks skipped: this CPU (" << runners::cpu_isa_name() << ") has no bf16 instructions");
            continue;
        }
        GradcheckOptions p = bf16 ? bf16_options(o) : o;
        p.plain_layouts = false;
        gradcheck(g, p);
        p.plain_layouts = true;
        gradcheck(g, p);
        if (bf16) continue;
        p.plain_layouts = false;
        p.share_memory = false;  // the first writer of each gradient must overwrite the NaN
        gradcheck(g, p);
    }
}

}  // namespace deeper::test
