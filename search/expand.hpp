#pragma once
// Stages -> trials. A trial's id is a hash of its stage, its configuration's id
// (config_id.hpp), its repeat and any seed its settings give; its seed derives from the
// experiment's seed and its settings, so results never depend on the order trials are
// scheduled in.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nets/knobs.hpp"
#include "search/experiment.hpp"
#include "search/train_config.hpp"

namespace deeper::search {

struct Trial {
    std::string id, stage;
    std::string config_id;            // the configuration, apart from stage, repeat and seed
    std::string legacy_id;            // the id deeper before 2026-12 gave it (adopt_journal_ids)
    int index = 0;                    // within the stage
    Settings settings;                // defaults + stage settings + this point
    std::vector<std::string> swept;   // the keys this stage varies
    std::map<std::string, std::string> labels;  // extra report columns (e.g. scaling = depth)
    int repeat = 0;                   // the value from the stage's seeds list
    std::uint64_t seed = 0;

    TrainConfig config() const;       // throws InputError for settings that do not fit
};

struct BestTrial {
    std::string id;
    Settings settings;
};
// The best finished trial of a stage by a metric; empty when the stage has no finished trial.
using BestLookup = std::function<std::optional<BestTrial>(const std::string& stage, const std::string& metric)>;

// A configuration a search stage found: its trial, the independent search that proposed it and
// its place in the ranking (1: the best), best first.
struct FoundNet {
    std::string id;
    Settings settings;
    int search = 0, rank = 1;
};
using FoundLookup = std::function<std::vector<FoundNet>(const Stage& search_stage, const RetrainFrom& which)>;

// What the stages that build on earlier ones read of those stages' results.
struct EarlierResults {
    BestLookup best;    // scale.from, init_from
    FoundLookup found;  // retrain.from
};

// Results folders written before trial ids were configuration ids name their trials by the old
// ids: a trial the journal knows only by its old id keeps it, so such a folder resumes.
void adopt_journal_ids(std::vector<Trial>& trials, const std::function<bool(const std::string&)>& journal_has);

// A search stage's proposal number `seq` of its independent search `search`: the defaults, the
// stage's settings and the point's. Its id hashes the stage, the search and the configuration
// (a search proposes a configuration once); its seed, the experiment's seed and the same.
Trial search_trial(const Experiment& e, const Stage& s, int search, int seq, const Settings& point);

bool needs_results(const Stage& s);
// Trials of a stage. Stages that need results (scale, retrain, init_from) need `results`;
// without them, expand() throws for them, and planned_count() says how many trials they will
// have (at most, for retrain).
std::vector<Trial> expand(const Experiment& e, const Stage& s, const EarlierResults* results = nullptr);
std::size_t planned_count(const Experiment& e, const Stage& s);

// The net knobs among a trial's settings (for counting the net it will train).
nets::NetOptions knobs_of(const Settings& settings);

// The (alpha, beta, gamma) grid under |alpha * beta^2 * gamma^2 - target| <= tolerance, or the
// same bound on the ratio of counted MACs of the rounded net (phi = 1) to the base (phi = 0).
// Both ratios are kept: at small resolutions channel rounding and ceil'ed repeats make the
// counted ratio differ from the formula's (3.8 against 2.04 at 32x32).
struct Coefficients {
    double alpha, beta, gamma, formula_ratio, macs_ratio;
    double ratio(bool by_macs) const { return by_macs ? macs_ratio : formula_ratio; }
};
std::vector<Coefficients> compound_grid(const CompoundSearch& c, const Settings& base);

std::string short_hash(const std::string& text);  // 10 hex digits of FNV-1a 64 (legacy ids)

}  // namespace deeper::search
