#pragma once
// The report of a search stage, from its journal records: each independent search's trace in
// the order it proposed, its best configuration after q evaluations (one objective: the best
// observed value; several: the non-dominated front), and the score of that choice: the
// configuration's true value where a table knows it (the mean over its seeds, as tabular
// benchmarks score a search), else the observed one. With several objectives the score is the
// hypervolume of the front's true values, over that of the table's own front when there is a
// table. Searches of one stage are pooled (mean ± std over searches) at a quarter, half and all
// of the budget; every other strategy is compared with the experiment's random stage of that
// budget (the difference over its standard error).
#include <map>
#include <string>
#include <vector>

#include "runners/experiment/journal.hpp"
#include "search/experiment.hpp"

namespace deeper::runners {

// A record's non-dominated rank among the evaluated points of its search (0 = on the front),
// by id; -1 for infeasible and failed ones.
std::map<std::string, int> pareto_ranks(const std::vector<TrialRecord>& records, const search::Experiment& e);

// The summary.md section of the search stages (empty without one); writes searches.csv and the
// figures into dir, adding them to `written`.
std::string search_reports(const std::string& dir, const std::vector<TrialRecord>& records,
                           const search::Experiment& e, std::vector<std::string>& written);

}  // namespace deeper::runners
