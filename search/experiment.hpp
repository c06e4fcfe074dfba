#pragma once
// An experiment file: defaults for every trial, then stages, each a space of trials (grid,
// zip, list, random, the EfficientNet compound search, phi-scaling from an earlier stage's
// best, an architecture search, and the retraining of what a search found), repeated over
// seeds; and the report it asks for. Loading validates everything
// (file:line:column, the key, what was expected) before anything runs.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace deeper::search {

using Settings = std::map<std::string, std::string>;  // train option or net knob -> value

struct Range {
    double min = 0, max = 0, step = 0;
    std::vector<double> values() const;
};

struct CompoundSearch {
    Range alpha, beta, gamma;
    double target = 2.0, tolerance = 0.1, phi = 1.0;
    bool by_macs = false;  // constraint on counted MACs of the rounded net, not the formula
};

struct CompoundCoefficients {
    double alpha = 1, beta = 1, gamma = 1;
};

// phi-scaling of the coefficients a compound-search stage chose (`from`), or of ones given
// outright (the paper's 1.2, 1.1, 1.15, or an earlier experiment's choice).
struct ScaleFrom {
    std::string from;                // the compound-search stage; empty when `given`
    std::optional<CompoundCoefficients> given;
    std::string metric = "val_top1"; // how the search stage's best is chosen
    std::vector<double> phi;
    bool baselines = false;          // add depth-only, width-only, resolution-only at equal MACs
};

struct RandomDim {
    std::string kind;                 // uniform | log_uniform | int | choice
    double lo = 0, hi = 0;
    long step = 1;                    // int: lo, lo + step, ... up to hi
    std::vector<std::string> choices;
};

// Multi-fidelity search on a stage (successive halving): trials pause at rungs of
// min_epochs * reduction^k epochs and only the best 1/reduction go on (see runners/experiment/rungs.hpp).
struct EarlyStop {
    std::string method = "asha";     // asha (asynchronous) | sha (synchronous)
    std::string metric = "val_top1";
    int min_epochs = 1;              // the first rung
    int reduction = 3;               // eta
    int max_epochs = 0;              // the last rung; 0: the trials' epochs
};

// A search stage: a strategy proposes points of a space from what it has observed, within a
// budget, against one or more objectives, under constraints checked before evaluation; the
// points are trained as trials, or looked up in a table of published results.
struct Objective {
    std::string metric;
    bool minimize = false;
};
// MnasNet's reward ACC(m) x [COST(m) / target]^w (Tan et al. 2019): w = -0.07 soft; hard:
// w = 0 at or below the target, -1 above (`hard: true`).
struct Reward {
    std::string metric = "val_top1", cost = "macs";
    double target = 0, w = -0.07;
    bool hard = false;
};
struct SearchStrategy {
    std::string name = "random";  // random | evolution | tpe
    int population = 20, tournament = 5;
    int startup = 10, candidates = 24;
    double prior_weight = 1.0;
};
struct SearchSpec {
    std::vector<std::pair<std::string, RandomDim>> space;  // in the file's order
    SearchStrategy strategy;
    int budget = 0;                    // points evaluated (refused ones are not counted)
    std::vector<Objective> objectives; // one or more; with a reward, its scalar only
    std::optional<Reward> reward;
    std::vector<std::pair<std::string, double>> constraints;  // metric <= bound (max_macs: macs)
    std::string table;                 // evaluator: a CSV of published results; empty: training
    // The hypervolume's reference point (several objectives): a bound per objective; where not
    // given, the worst value the stage's searches saw.
    std::map<std::string, double> reference;
    int repeats = 1;                   // independent searches
    std::vector<int> report_at;        // evaluations at which the report scores the searches (default: B/4, B/2, B)
    std::uint64_t seed = 0;
    int table_line = 0, table_column = 0;  // where `table` is, for messages
};

// Retraining what a search stage found, so that a search's claim rests on nets trained with
// the full recipe, not on its proxy: the top configurations by the search's objectives (one
// objective or a reward: the best values; several: non-dominated rank, then the first
// objective), of the searches pooled or of each one.
struct RetrainFrom {
    std::string from;          // a search stage
    int top = 1;
    bool each_search = false;  // the top of every independent search, not of them pooled
};

struct Stage {
    enum class Kind { grid, zip, list, random, compound_search, scale, search, retrain };
    std::string name;
    Kind kind = Kind::grid;
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // grid, zip
    std::vector<Settings> items;                                         // list
    std::vector<std::string> item_labels;  // list: each item's `label` ("" when it has none)
    std::map<std::string, RandomDim> space;                              // random
    int count = 0;                                                       // random
    std::uint64_t random_seed = 0;
    CompoundSearch compound;
    ScaleFrom scale;
    SearchSpec search;
    RetrainFrom retrain;
    Settings settings;                 // stage-wide values over the defaults
    std::vector<int> seeds = {0};      // repeats
    std::string init_from, init_metric = "val_top1";  // transfer: best trial of a stage
    std::optional<EarlyStop> early_stop;
    // Timed on this machine before each trial trains (latency_ms, throughput), recorded with
    // its results so a report can set accuracy against them; a search's own needs are timed anyway.
    std::vector<std::string> measure;
    int line = 0;                      // where the stage starts, for messages
    std::vector<std::string> depends_on() const;
};

struct ReportTable {
    std::string title, stage, rows, columns, metric = "test_top1";
    // Set: each trial's value is the first epoch at which the per-epoch metric reaches this
    // (at most it for errors and losses, at least it otherwise): AlexNet's "epochs to 25%
    // training error".
    std::optional<double> reach;
};
struct ReportPlot {
    std::string title, stage, kind = "curves", metric = "val_top1", x = "epoch", group;
    bool join = false;  // scatter: a line through each group's points in x order (EfficientNet's Fig. 3)
    bool front = false; // scatter: a line through each group's Pareto front (x and the metric, each its way)
    std::string origin; // scatter: a stage whose point starts every group's line (the unscaled base)
    bool log_y = false; // curves and scatter: a log y axis (errors and losses falling towards zero)
};

// A sentence the report checks against the numbers: the trials whose `rows` setting is `above`
// end with a higher `metric` than those where it is `below` (the degradation problem: the
// training error of plain56 above plain8's).
struct ReportClaim {
    std::string says, stage, rows, above, below, metric;
};

struct Experiment {
    std::string name, description, path;
    std::uint64_t seed = 0;
    Settings defaults;
    std::vector<Stage> stages;
    std::vector<ReportTable> tables;
    std::vector<ReportPlot> plots;
    std::vector<ReportClaim> claims;
};

Experiment load_experiment(const std::string& path);
Experiment parse_experiment(const std::string& yaml_text, const std::string& name);

}  // namespace deeper::search
