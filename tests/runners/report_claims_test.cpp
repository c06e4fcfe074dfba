// Report claims: the verdict is read off the runs (every run of one group above every run of
// the other, the means alone, or neither), the sentence names the numbers, and a claim that
// cannot be checked is refused with the file, line and column.
#include <catch2/catch.hpp>

#include <cmath>

#include "nets/error.hpp"
#include "runners/experiment/report_claims.hpp"
#include "search/experiment.hpp"

using namespace deeper;
using runners::ClaimVerdict;

namespace {

runners::TrialRecord trial(const std::string& net, double error, const std::string& status = "done") {
    runners::TrialRecord r;
    r.id = net + std::to_string(error);
    r.stage = "depth";
    r.status = status;
    r.settings["net"] = net;
    r.epochs.push_back({{"epoch", 1}, {"train_eval_error", error}});
    return r;
}

std::string error_of(const std::string& yaml) {
    try {
        search::parse_experiment(yaml, "exp.yaml");
    } catch (const InputError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("a claim's verdict: separated runs, means only, reversed, unmeasured", "[report][claims]") {
    CHECK(runners::claim_verdict({0.30, 0.28}, {0.10, 0.12}) == ClaimVerdict::holds);
    CHECK(runners::claim_verdict({0.30, 0.11}, {0.10, 0.12}) == ClaimVerdict::holds_on_average);
    CHECK(runners::claim_verdict({0.10, 0.11}, {0.10, 0.12}) == ClaimVerdict::fails);
    CHECK(runners::claim_verdict({0.2, 0.2}, {0.2, 0.2}) == ClaimVerdict::fails);  // equal is not above
    CHECK(runners::claim_verdict({}, {0.1}) == ClaimVerdict::unmeasured);
    CHECK(runners::claim_verdict({NAN}, {0.1}) == ClaimVerdict::unmeasured);
}

TEST_CASE("the claims section: one sentence per claim with both groups' numbers", "[report][claims]") {
    const std::vector<runners::TrialRecord> records = {trial("plain8", 0.10), trial("plain8", 0.12),
                                                       trial("plain56", 0.30), trial("plain56", 0.26),
                                                       trial("resnet56", 0.08), trial("resnet56", 0.09),
                                                       trial("plain110", 0.5, "failed")};
    search::ReportClaim deep{"the deep plain net trains worse", "", "net", "plain56", "plain8", "train_eval_error"};
    search::ReportClaim twin{"its residual twin trains better", "", "net", "plain56", "resnet56", "train_eval_error"};
    search::ReportClaim none{"the deepest net trains worst", "", "net", "plain110", "plain56", "train_eval_error"};
    const std::string md = runners::claims_section(records, {deep, twin, none});
    CHECK_THAT(md, Catch::StartsWith("## What the numbers show\n\n"));
    CHECK_THAT(md, Catch::Contains("- **holds**: the deep plain net trains worse: train_eval_error of plain56 "
                                   "0.2800 ± 0.0283 (n=2) against plain8 0.1100 ± 0.0141 (n=2)."));
    CHECK_THAT(md, Catch::Contains("- **holds**: its residual twin trains better"));
    // a failed trial is not a measurement
    CHECK_THAT(md, Catch::Contains("- **not measured**: the deepest net trains worst: no finished trial with net=plain110."));
    CHECK(runners::claims_section(records, {}).empty());
}

TEST_CASE("report claims: every part needed, a known metric, two different groups", "[report][claims]") {
    const std::string head = "name: t\ndefaults:\n  data: synthetic\nstages:\n  - name: depth\n    grid:\n"
                             "      net: [plain8, plain20]\nreport:\n  claims:\n";
    CHECK(error_of(head + "    - {says: deeper is worse, metric: train_eval_error, rows: net, above: plain20, "
                          "below: plain8}\n") == "no error");
    CHECK(error_of(head + "    - {says: x, metric: train_eval_error, rows: net, above: plain20}\n") ==
          "exp.yaml:10:7: a report claim needs below (says, metric, rows, above, below)");
    CHECK_THAT(error_of(head + "    - {says: x, metric: train_error, rows: net, above: a, below: b}\n"),
               Catch::StartsWith("exp.yaml:10:25: unknown metric 'train_error'"));
    CHECK(error_of(head + "    - {says: x, metric: test_top1, rows: net, above: a, below: a}\n") ==
          "exp.yaml:10:64: below: the same net as above ('a')");
    CHECK_THAT(error_of(head + "    - {says: x, metric: test_top1, rows: nett, above: a, below: b}\n"),
               Catch::StartsWith("exp.yaml:10:42: rows: 'nett' is not a setting or a trial label"));
    CHECK_THAT(error_of(head + "    - {says: x, metric: test_top1, rows: net, above: a, below: b, stage: wide}\n"),
               Catch::Contains("no stage named 'wide'"));
    CHECK_THAT(error_of(head + "    - {says: x, metric: test_top1, rows: net, above: a, below: b, by: 2}\n"),
               Catch::Contains("by"));
}
