#pragma once
// An experiment's trials checked before any of them runs (`deeper check` prints the plan,
// `deeper run` refuses to start without one): every stage that can be expanded now is, each
// trial's data is opened (once per spec) and its net built at that data's size, and its
// precision is one this CPU runs. A stage without trials, or a trial that cannot run, is an
// InputError naming the file, the stage's line and the trial's settings.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runners/data/dataset.hpp"
#include "search/expand.hpp"

namespace deeper::runners {

class DataCache {
public:
    const data::TrainTest& get(const std::string& spec);

private:
    std::map<std::string, data::TrainTest> sets_;
};

struct PlannedTrial {
    search::Trial trial;
    search::TrainConfig config;
    std::int64_t params = 0, macs = 0;
    const data::TrainTest* sets = nullptr;  // owned by the DataCache
    const data::Dataset* train = nullptr;   // sets->train
};

// "lr=0.1 repeat=1": the trial's swept knobs and labels (its id when it has none).
std::string describe(const search::Trial& t);

std::vector<PlannedTrial> plan_stage(const search::Experiment& e, const search::Stage& s, DataCache& data,
                                     const search::EarlierResults* results = nullptr);
// A retrain stage before its search has run: the search space's first configuration and its
// last (each dimension at its first or last choice, or the ends of its range) stand in for
// what the search will find, so that the retraining's recipe is checked on the nets at both
// ends of the space.
search::EarlierResults stand_in_results(const search::Experiment& e, const search::Stage& retrain);
// A search stage checked before it runs: its table read (every configuration of the space
// there), or points of its space drawn and built as their trials would be (settings, data, net
// and memory checked); how much of the space its constraints leave.
struct SearchPlan {
    double space_size = 0;
    std::size_t drawn = 0, feasible = 0;  // the feasible share: of every configuration, or of draws
    bool exact_share = false;             // every configuration of the space was checked
    std::vector<PlannedTrial> samples;    // training: some feasible points as trials
    std::size_t table_configurations = 0, table_rows = 0;
};
SearchPlan plan_search_stage(const search::Experiment& e, const search::Stage& s, DataCache& data);

// What the checks found that running needs: the biggest training step (MACs x batch) among the
// trials known before any runs, which decides how many run at once.
struct ExperimentPlan {
    std::size_t trials = 0;
    std::int64_t biggest_step_macs = 0;
};
// plan_stage for every stage that does not wait for another stage's results, and for retrain
// stages on stand-ins for what their searches will find.
ExperimentPlan validate_experiment(const search::Experiment& e);

}  // namespace deeper::runners
