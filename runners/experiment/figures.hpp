#pragma once
// The data behind the report's figures, seeds pooled: trials that differ only in their seed
// become one point (mean, with the standard deviation as its spread), so a figure shows what the
// tables say.
#include <vector>

#include "runners/experiment/journal.hpp"
#include "runners/experiment/svg.hpp"
#include "search/experiment.hpp"

namespace deeper::runners {

// curves: per group, the metric at each epoch over the group's trials. scatter: per group, one
// point per configuration at its MACs or params (finished trials only).
std::vector<Series> plot_series(const std::vector<TrialRecord>& records, const search::ReportPlot& p);
// points: per group, the metric of its finished trials.
std::vector<Category> plot_categories(const std::vector<TrialRecord>& records, const search::ReportPlot& p);

}  // namespace deeper::runners
