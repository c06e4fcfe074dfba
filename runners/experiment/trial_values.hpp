#pragma once
// What the reports read off a journaled trial: a setting, a final metric, and the spread of a
// metric over the seeds of one configuration, the best configuration of a stage.
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "runners/experiment/journal.hpp"

namespace deeper::runners {

// The best finished trial of a stage by a metric, seeds pooled: the configuration (its settings
// apart from the seed) with the best mean over its finished trials, then that configuration's
// best trial (the checkpoint `init_from` starts from). One lucky seed does not win a search.
// nullptr when no finished trial of the stage has the metric.
const TrialRecord* best_trial(const std::vector<TrialRecord>& records, const std::string& stage,
                              const std::string& metric);

// A setting or label of the trial ("" when unset); "stage" is the trial's stage.
std::string setting(const TrialRecord& r, const std::string& key);
// The best validation top-1 over the trial's epochs.
double best_val_top1(const TrialRecord& r);
// A metric at the end of the trial: a result (test_top1, params, macs, ...), best_val_top1, or
// the last epoch's value; NAN when the trial has none.
double final_metric(const TrialRecord& r, const std::string& metric);

// The first epoch at which a per-epoch metric reached `threshold` (at most it where lower is
// better, at least it otherwise); NAN when it never did.
double epochs_to_reach(const TrialRecord& r, const std::string& metric, double threshold);

struct Spread {
    double mean = NAN, std = NAN;  // std: sample standard deviation (n - 1), NAN for n = 1
    std::size_t n = 0;
};
// The finite values' mean and standard deviation.
Spread spread(const std::vector<double>& values);
// "0.9123 ± 0.0041 (n=3)", or the value alone for one trial; a whole number every trial shares
// (MACs, parameters) as "5,208,384 (n=2)".
std::string spread_text(const Spread& s);

}  // namespace deeper::runners
