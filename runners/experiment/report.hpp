#pragma once
// Reports rebuilt from the journal: results.csv (one row per trial, failed ones included),
// curves.csv (one row per trial per epoch), summary.md (the tables the experiment asks for and
// the best trial per stage) and SVG plots.
#include <string>
#include <vector>

#include "runners/experiment/journal.hpp"
#include "search/experiment.hpp"

namespace deeper::runners {

// Writes the reports into results_dir; `e` (may be null) supplies the report section.
// Returns the files written.
std::vector<std::string> write_reports(const std::string& results_dir, const search::Experiment* e);

// One of the experiment's `report: tables:` as markdown: a metric by one or two settings, seeds
// pooled into mean ± std (n), with a note under it for a cell that pools more than seeds.
std::string experiment_table(const std::vector<TrialRecord>& records, const search::ReportTable& rt);
// What that note says, "" when every cell is one configuration's seeds: the cells that pool
// trials differing in a swept setting the table does not show, and those settings' values.
std::string mixed_cells_note(const std::vector<TrialRecord>& records, const search::ReportTable& rt);

}  // namespace deeper::runners
