#pragma once
// A search stage's journal records as its searches: each independent search's evaluated points
// in the order it proposed them, with their objectives as losses (lower is better), and what
// the searches found, ranked by their objectives (for the report and for retraining).
#include <string>
#include <vector>

#include "runners/experiment/journal.hpp"
#include "search/experiment.hpp"
#include "search/expand.hpp"
#include "search/pareto.hpp"

namespace deeper::runners {

// One evaluated point of a search, in proposal order.
struct Step {
    const TrialRecord* record;
    search::Losses observed;  // empty: failed, or stopped early (never a search's choice)
    search::Losses truth;     // the table's means where it has them, else observed
};

struct Trace {
    int search = 0;
    std::vector<Step> steps;
    int infeasible = 0;
};

// A record's value of a metric as the table's mean over its seeds where it has one.
double true_metric(const TrialRecord& r, const std::string& metric);

// The searches of a stage, each in proposal order.
std::vector<Trace> traces_of(const std::vector<TrialRecord>& records, const search::Stage& s);

// The configurations a search stage found, best first: by the observed objective (or reward),
// or with several by non-dominated rank and then the first objective; `which.top` of the
// searches pooled, or of each search. A configuration found twice in a ranking counts once.
std::vector<search::FoundNet> found_nets(const std::vector<TrialRecord>& records, const search::Stage& s,
                                         const search::RetrainFrom& which);

}  // namespace deeper::runners
