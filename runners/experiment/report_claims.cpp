#include "runners/experiment/report_claims.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "runners/experiment/trial_values.hpp"

namespace deeper::runners {

const char* verdict_text(ClaimVerdict v) {
    switch (v) {
        case ClaimVerdict::holds: return "holds";
        case ClaimVerdict::holds_on_average: return "holds on average only";
        case ClaimVerdict::fails: return "does not hold";
        case ClaimVerdict::unmeasured: return "not measured";
    }
    return "?";
}

// Non-parametric on purpose: with two or three seeds a test statistic says little, while
// "every run of one above every run of the other" is plain to read and hard to get by luck.
ClaimVerdict claim_verdict(const std::vector<double>& above, const std::vector<double>& below) {
    const Spread a = spread(above), b = spread(below);
    if (a.n == 0 || b.n == 0) return ClaimVerdict::unmeasured;
    if (!(a.mean > b.mean)) return ClaimVerdict::fails;
    double lowest_above = INFINITY, highest_below = -INFINITY;
    for (double v : above)
        if (std::isfinite(v)) lowest_above = std::min(lowest_above, v);
    for (double v : below)
        if (std::isfinite(v)) highest_below = std::max(highest_below, v);
    return lowest_above > highest_below ? ClaimVerdict::holds : ClaimVerdict::holds_on_average;
}

namespace {

std::vector<double> group_values(const std::vector<TrialRecord>& records, const search::ReportClaim& c,
                                 const std::string& value) {
    std::vector<double> out;
    for (const auto& r : records)
        if ((r.status == "done" || r.status == "stopped") && (c.stage.empty() || r.stage == c.stage) &&
            setting(r, c.rows) == value)
            out.push_back(final_metric(r, c.metric));
    return out;
}

std::string claim_sentence(const std::vector<TrialRecord>& records, const search::ReportClaim& c) {
    const auto above = group_values(records, c, c.above), below = group_values(records, c, c.below);
    const ClaimVerdict v = claim_verdict(above, below);
    if (v == ClaimVerdict::unmeasured)
        return fmt::format("- **{}**: {}: no finished trial with {}={}.\n", verdict_text(v), c.says, c.rows,
                           spread(above).n == 0 ? c.above : c.below);
    const Spread a = spread(above), b = spread(below);
    return fmt::format("- **{}**: {}: {} of {} {} against {} {}.\n", verdict_text(v), c.says, c.metric, c.above,
                       spread_text(a), c.below, spread_text(b));
}

}  // namespace

std::string claims_section(const std::vector<TrialRecord>& records, const std::vector<search::ReportClaim>& claims) {
    if (claims.empty()) return "";
    std::string md = "## What the numbers show\n\n";
    for (const auto& c : claims) md += claim_sentence(records, c);
    return md + "\n(holds: every run of the first above every run of the second; on average only: the means "
                "ordered, the runs overlapping.)\n\n";
}

}  // namespace deeper::runners
