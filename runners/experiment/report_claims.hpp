#pragma once
// The experiment's `report: claims:` checked against its trials, one sentence each: whether the
// trials of one group end with a higher metric than those of another, and by how much.
#include <string>
#include <vector>

#include "runners/experiment/journal.hpp"
#include "search/experiment.hpp"

namespace deeper::runners {

enum class ClaimVerdict {
    holds,             // every trial of `above` above every trial of `below`
    holds_on_average,  // the means ordered, the trials overlapping
    fails,             // the means not ordered
    unmeasured,        // a group without a finished trial
};

const char* verdict_text(ClaimVerdict v);
ClaimVerdict claim_verdict(const std::vector<double>& above, const std::vector<double>& below);

// "## What the numbers show" with one sentence per claim, or "" when the experiment has none.
std::string claims_section(const std::vector<TrialRecord>& records, const std::vector<search::ReportClaim>& claims);

}  // namespace deeper::runners
