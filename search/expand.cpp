#include "search/expand.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "search/config_id.hpp"
#include "search/fnv_hash.hpp"
#include "search/net_positions.hpp"

namespace deeper::search {

std::string short_hash(const std::string& text) {
    return fmt::format("{:010x}", fnv1a(text) >> 24);
}

TrainConfig Trial::config() const {
    TrainConfig c;
    for (const auto& [k, v] : settings) set_train_option(c, k, v);
    c.seed = seed;
    return c;
}

bool needs_results(const Stage& s) { return !s.depends_on().empty(); }

Trial search_trial(const Experiment& e, const Stage& s, int search, int seq, const Settings& point) {
    Trial t;
    t.stage = s.name;
    t.index = seq;
    t.settings = e.defaults;
    for (const auto& [k, v] : s.settings) t.settings[k] = v;
    for (const auto& [k, v] : point) {
        t.settings[k] = v;
        t.swept.push_back(k);
    }
    t.labels = {{"search", std::to_string(search)}, {"seq", std::to_string(seq)}};
    t.config_id = config_id(t.settings);
    t.id = hex64(fnv1a(fmt::format("stage={}\nsearch={}\nconfig={}\n", s.name, search, t.config_id)));
    t.legacy_id = t.id;
    if (const auto given = t.settings.find("seed"); given != t.settings.end()) {
        TrainConfig c;
        set_train_option(c, "seed", given->second);
        t.seed = c.seed;
    } else {
        t.seed = fnv1a(fmt::format("{}\n{}", e.seed, t.id)) % 1000000007ull;
    }
    return t;
}

void adopt_journal_ids(std::vector<Trial>& trials, const std::function<bool(const std::string&)>& journal_has) {
    for (auto& t : trials)
        if (!journal_has(t.id) && journal_has(t.legacy_id)) t.id = t.legacy_id;
}

nets::NetOptions knobs_of(const Settings& settings) {
    nets::NetOptions o;
    for (const auto& [k, v] : settings)
        for (const auto& info : nets::knob_infos())
            if (info.key == k) nets::set_knob(o, k, v);
    return o;
}

namespace {

std::string number_text(double v) { return fmt::format("{}", std::round(v * 1e9) / 1e9); }

std::int64_t efficientnet_macs(nets::NetOptions o) {
    return nets::build_net("efficientnet", o).total_macs();
}

Trial make_trial(const Experiment& e, const Stage& s, int index, Settings settings, int repeat,
                 std::vector<std::string> swept, std::map<std::string, std::string> labels = {}) {
    Trial t;
    t.stage = s.name;
    t.index = index;
    t.settings = std::move(settings);
    t.swept = std::move(swept);
    t.labels = std::move(labels);
    t.repeat = repeat;
    t.config_id = config_id(t.settings);
    const auto given_seed = t.settings.find("seed");
    t.id = hex64(fnv1a(fmt::format("stage={}\nconfig={}\nrepeat={}\nseed={}\n", s.name, t.config_id, repeat,
                                   given_seed == t.settings.end() ? "" : given_seed->second)));
    // The old id hashed the settings' text; the seed still derives from that text (without the
    // settings about how a trial runs), so every experiment keeps the seeds it had.
    std::string canon = "stage=" + s.name + "\nrepeat=" + std::to_string(repeat) + "\n";
    std::string seed_canon = canon;
    for (const auto& [k, v] : t.settings) {
        canon += k + "=" + v + "\n";
        if (changes_results(k) || k == "seed") seed_canon += k + "=" + v + "\n";
    }
    for (const auto& [k, v] : t.labels) {
        canon += "label." + k + "=" + v + "\n";
        seed_canon += "label." + k + "=" + v + "\n";
    }
    t.legacy_id = short_hash(canon);
    // A seed given in the settings (or swept) is taken as is, so that trials differing in one
    // knob (precision, say) can share it; otherwise every trial draws its own.
    if (given_seed != t.settings.end()) {
        TrainConfig c;
        set_train_option(c, "seed", given_seed->second);
        t.seed = c.seed;
        return t;
    }
    std::uint64_t h = e.seed * 0x9E3779B97F4A7C15ull;
    for (char c : short_hash(seed_canon)) h = (h ^ std::uint64_t(c)) * 0x100000001b3ull;
    t.seed = h % 1000000007ull;
    return t;
}

// The points of a stage (before seeds), with the keys they vary.
using Labels = std::map<std::string, std::string>;
using Points = std::vector<std::pair<Settings, Labels>>;

Points grid_points(const Stage& s, const Settings& base, std::vector<std::string>& swept) {
    Points out = {{base, {}}};
    for (const auto& [k, values] : s.axes) {
        swept.push_back(k);
        Points next;
        for (const auto& p : out)
            for (const auto& v : values) {
                auto q = p;
                q.first[k] = v;
                next.push_back(q);
            }
        out = std::move(next);
    }
    return out;
}

Points zip_points(const Stage& s, const Settings& base, std::vector<std::string>& swept) {
    Points out;
    for (const auto& a : s.axes) swept.push_back(a.first);
    for (std::size_t i = 0; i < s.axes[0].second.size(); ++i) {
        Settings q = base;
        for (const auto& [k, values] : s.axes) q[k] = values[i];
        out.push_back({q, {}});
    }
    return out;
}

Points list_points(const Stage& s, const Settings& base, std::vector<std::string>& swept) {
    Points out;
    for (std::size_t i = 0; i < s.items.size(); ++i) {
        Settings q = base;
        for (const auto& [k, v] : s.items[i]) {
            q[k] = v;
            if (std::find(swept.begin(), swept.end(), k) == swept.end()) swept.push_back(k);
        }
        std::map<std::string, std::string> labels;
        if (!s.item_labels[i].empty()) labels["label"] = s.item_labels[i];
        out.push_back({q, labels});
    }
    return out;
}

Points random_points(const Experiment& e, const Stage& s, const Settings& base, std::vector<std::string>& swept) {
    Points out;
    std::mt19937_64 rng(s.random_seed ^ (e.seed * 0x9E3779B97F4A7C15ull));
    std::uniform_real_distribution<double> u(0, 1);
    for (const auto& [k, d] : s.space) swept.push_back(k);
    // Distinct draws: a configuration drawn again is drawn anew (a small space of choices
    // repeats), so `count` trials are `count` configurations, or the space is too small.
    std::set<Settings> drawn;
    const long attempts = 100L * s.count + 1000;
    for (long a = 0; a < attempts && int(out.size()) < s.count; ++a) {
        Settings q = base;
        for (const auto& [k, d] : s.space) {
            if (d.kind == "choice") q[k] = d.choices[rng() % d.choices.size()];
            else if (d.kind == "int") q[k] = std::to_string(std::int64_t(std::floor(d.lo + u(rng) * (d.hi - d.lo + 1))));
            else if (d.kind == "uniform") q[k] = fmt::format("{:.6g}", d.lo + u(rng) * (d.hi - d.lo));
            else q[k] = fmt::format("{:.6g}", std::exp(std::log(d.lo) + u(rng) * (std::log(d.hi) - std::log(d.lo))));
        }
        if (drawn.insert(q).second) out.push_back({q, {}});
    }
    if (int(out.size()) < s.count)
        throw InputError(fmt::format("random: {} distinct configurations found in {} draws, count is {}: the space "
                                     "is smaller than count",
                                     out.size(), attempts, s.count));
    return out;
}

Points compound_points(const Stage& s, Settings base, std::vector<std::string>& swept) {
    Points out;
    swept = {"alpha", "beta", "gamma"};
    base["net"] = "efficientnet";
    for (const auto& c : compound_grid(s.compound, base)) {
        Settings q = base;
        q["alpha"] = number_text(c.alpha);
        q["beta"] = number_text(c.beta);
        q["gamma"] = number_text(c.gamma);
        q["phi"] = number_text(s.compound.phi);
        out.push_back({q, {{"formula_ratio", fmt::format("{:.4f}", c.formula_ratio)},
                           {"macs_ratio", fmt::format("{:.4f}", c.macs_ratio)}}});
    }
    return out;
}

// The single-dimension baselines with the MACs of the compound net `compound`: plain depth,
// width and resolution multipliers. MACs are step functions of each (repeats are ceil'ed,
// channels rounded to 8, maps ceil'ed at every stride: 32x32 -> 2.6M, 35x35 -> 5.9M for a
// half-width B0), not even monotone in resolution: scan the candidates and take the one
// closest to the target in ratio, the smaller one on a tie.
std::vector<Settings> matched_baselines(const Settings& base, const Settings& compound) {
    const std::int64_t target = efficientnet_macs(knobs_of(compound));
    nets::NetOptions plain = knobs_of(base);
    plain.phi = 0;
    const double w0 = plain.width.value_or(1.0), d0 = plain.depth.value_or(1.0);
    const int r0 = plain.resolution.value_or(224);
    auto closest = [&](auto macs_at, const std::vector<double>& candidates) {
        double best_x = candidates.front(), best_gap = std::numeric_limits<double>::infinity();
        for (double x : candidates) {
            const double gap = std::abs(std::log(double(macs_at(x)) / double(target)));
            if (gap < best_gap - 1e-12) best_gap = gap, best_x = x;
        }
        return best_x;
    };
    auto steps = [](double lo, double hi, double step) {
        std::vector<double> v;
        for (int i = 0; lo + i * step <= hi + 1e-9; ++i) v.push_back(lo + i * step);
        return v;
    };
    std::vector<double> resolutions;
    for (int r = r0; r <= 6 * r0; ++r) resolutions.push_back(r);
    const double d = closest([&](double x) { auto o = plain; o.depth = d0 * x; return efficientnet_macs(o); },
                             steps(1, 16, 0.05));
    const double w = closest([&](double x) { auto o = plain; o.width = w0 * x; return efficientnet_macs(o); },
                             steps(1, 8, 0.01));
    const int r = int(closest([&](double x) { auto o = plain; o.resolution = int(x); return efficientnet_macs(o); },
                              resolutions));
    Settings qd = base, qw = base, qr = base;
    for (Settings* p : {&qd, &qw, &qr})  // plain multipliers: no compound scaling
        for (const char* key : {"phi", "alpha", "beta", "gamma"}) p->erase(key);
    qd["depth"] = number_text(d0 * d);
    qw["width"] = number_text(w0 * w);
    qr["resolution"] = std::to_string(r);
    return {qd, qw, qr};
}

Points scale_points(const Stage& s, Settings base, const EarlierResults* results, std::vector<std::string>& swept) {
    if (s.scale.given) {
        base["alpha"] = number_text(s.scale.given->alpha);
        base["beta"] = number_text(s.scale.given->beta);
        base["gamma"] = number_text(s.scale.given->gamma);
    } else {
        if (!results) throw std::logic_error("scale stage expanded without results");
        auto b = results->best(s.scale.from, s.scale.metric);
        if (!b) throw RunError(fmt::format("stage '{}': stage '{}' has no finished trial to scale from",
                                           s.name, s.scale.from));
        for (const char* k : {"alpha", "beta", "gamma"}) base[k] = b->settings.at(k);
    }
    swept = {"phi", "depth", "width", "resolution"};  // the baselines' multipliers show
    base["net"] = "efficientnet";
    Points out;
    for (double phi : s.scale.phi) {
        Settings q = base;
        q["phi"] = number_text(phi);
        out.push_back({q, {{"scaling", "compound"}, {"phi_matched", number_text(phi)}}});
        if (!s.scale.baselines) continue;
        const auto baselines = matched_baselines(base, q);
        const char* kinds[] = {"depth", "width", "resolution"};
        for (int i = 0; i < 3; ++i) out.push_back({baselines[i], {{"scaling", kinds[i]}, {"phi_matched", number_text(phi)}}});
    }
    return out;
}

// What names a found net's architecture: the search's point, and the net or net file with its
// positions. The rest of the recipe is the retraining's own (the search's proxy settings stay
// behind).
bool names_the_net(const std::string& key, const Stage& search_stage) {
    if (key == "net" || key == "spec" || key.rfind(kPositionPrefix, 0) == 0) return true;
    const auto& dims = search_stage.search.space;
    return std::any_of(dims.begin(), dims.end(), [&](const auto& d) { return d.first == key; });
}

Points retrain_points(const Experiment& e, const Stage& s, const Settings& base, const EarlierResults* results,
                      std::vector<std::string>& swept) {
    if (!results) throw std::logic_error("retrain stage expanded without results");
    const auto source = std::find_if(e.stages.begin(), e.stages.end(),
                                     [&](const Stage& x) { return x.name == s.retrain.from; });
    if (source == e.stages.end()) throw std::logic_error("retrain.from names no stage");  // checked when loaded
    const std::vector<FoundNet> found = results->found(*source, s.retrain);
    if (found.empty())
        throw RunError(fmt::format("stage '{}': search stage '{}' has no finished trial to retrain", s.name,
                                   s.retrain.from));
    for (const auto& [name, dim] : source->search.space) swept.push_back(name);
    Points out;
    std::map<std::string, std::size_t> index_of;  // configuration id -> its place in out
    for (const FoundNet& f : found) {
        Settings q = base;
        for (const auto& [k, v] : f.settings)
            if (names_the_net(k, *source)) q[k] = v;
        // Two searches that found one net retrain it once, naming both.
        const auto [at, fresh] = index_of.emplace(config_id(q), out.size());
        if (!fresh) {
            out[at->second].second["from_search"] += "," + std::to_string(f.search);
            continue;
        }
        out.push_back({q, {{"from_search", std::to_string(f.search)}, {"found_rank", std::to_string(f.rank)}}});
    }
    return out;
}

Points points(const Experiment& e, const Stage& s, const EarlierResults* results, std::vector<std::string>& swept) {
    Settings base = e.defaults;
    for (const auto& [k, v] : s.settings) base[k] = v;
    Points out;
    switch (s.kind) {
        case Stage::Kind::grid: out = grid_points(s, base, swept); break;
        case Stage::Kind::zip: out = zip_points(s, base, swept); break;
        case Stage::Kind::list: out = list_points(s, base, swept); break;
        case Stage::Kind::random: out = random_points(e, s, base, swept); break;
        case Stage::Kind::compound_search: out = compound_points(s, base, swept); break;
        case Stage::Kind::scale: out = scale_points(s, base, results, swept); break;
        case Stage::Kind::retrain: out = retrain_points(e, s, base, results, swept); break;
        case Stage::Kind::search: throw std::logic_error("a search stage proposes its trials as it runs: not expanded");
    }
    if (!s.init_from.empty()) {
        if (!results) throw std::logic_error("init_from stage expanded without results");
        auto b = results->best(s.init_from, s.init_metric);
        if (!b) throw RunError(fmt::format("stage '{}': stage '{}' has no finished trial to start from",
                                           s.name, s.init_from));
        for (auto& p : out) p.first["init"] = "trial:" + b->id;
    }
    return out;
}

}  // namespace

std::vector<Coefficients> compound_grid(const CompoundSearch& c, const Settings& base) {
    std::vector<Coefficients> out;
    const nets::NetOptions o = knobs_of(base);
    auto b = o;
    b.phi = 0;
    const double base_macs = double(efficientnet_macs(b));
    for (double a : c.alpha.values())
        for (double be : c.beta.values())
            for (double g : c.gamma.values()) {
                auto k = o;
                k.alpha = a;
                k.beta = be;
                k.gamma = g;
                k.phi = 1;
                const Coefficients x{a, be, g, a * be * be * g * g, double(efficientnet_macs(k)) / base_macs};
                if (std::abs(x.ratio(c.by_macs) - c.target) <= c.tolerance + 1e-12) out.push_back(x);
            }
    return out;
}

std::vector<Trial> expand(const Experiment& e, const Stage& s, const EarlierResults* results) {
    std::vector<std::string> swept;
    auto pts = points(e, s, results, swept);
    std::vector<Trial> trials;
    std::map<std::string, std::size_t> index_of;  // trial id -> its place
    for (int repeat : s.seeds)
        for (auto [settings, labels] : pts) {
            if (s.seeds.size() > 1) labels["repeat"] = std::to_string(repeat);
            trials.push_back(make_trial(e, s, int(trials.size()), settings, repeat, swept, labels));
            // one configuration twice would train once and count twice (a list or zip repeating an item)
            if (const auto [at, fresh] = index_of.emplace(trials.back().id, trials.size()); !fresh)
                throw InputError(fmt::format("trials {} and {} are the same configuration; give each once", at->second,
                                             trials.size()));
        }
    return trials;
}

std::size_t planned_count(const Experiment& e, const Stage& s) {
    if (s.kind == Stage::Kind::search) return std::size_t(s.search.budget) * std::size_t(s.search.repeats);
    if (s.kind == Stage::Kind::scale)
        return s.scale.phi.size() * (s.scale.baselines ? 4 : 1) * s.seeds.size();
    if (s.kind == Stage::Kind::retrain) {  // at most: two searches may find one net
        const auto source = std::find_if(e.stages.begin(), e.stages.end(),
                                         [&](const Stage& x) { return x.name == s.retrain.from; });
        const int searches = s.retrain.each_search && source != e.stages.end() ? source->search.repeats : 1;
        return std::size_t(s.retrain.top) * std::size_t(searches) * s.seeds.size();
    }
    if (!s.init_from.empty()) {
        EarlierResults fake{[](const std::string&, const std::string&) {
                                return std::optional<BestTrial>(BestTrial{"(best)", {}});
                            },
                            {}};
        return expand(e, s, &fake).size();
    }
    return expand(e, s).size();
}

}  // namespace deeper::search
