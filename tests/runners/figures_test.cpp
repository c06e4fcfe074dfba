// The report's figures pool seeds: a curve per group is the mean over its trials with the
// standard deviation as a band; a scatter point and a category the mean with whiskers.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "runners/experiment/figures.hpp"
#include "runners/experiment/report.hpp"
#include "runners/experiment/trial_values.hpp"

using namespace deeper;
using runners::TrialRecord;

namespace {

TrialRecord trial(const std::string& net, int seed, std::vector<double> val_top1, double macs,
                  const std::string& status = "done") {
    TrialRecord r;
    r.id = net + std::to_string(seed);
    r.stage = "s";
    r.status = status;
    r.settings = {{"net", net}, {"seed", std::to_string(seed)}};
    r.swept = {"net", "seed"};
    for (std::size_t e = 0; e < val_top1.size(); ++e) r.epochs.push_back({{"epoch", double(e + 1)}, {"val_top1", val_top1[e]}});
    r.result = {{"macs", macs}, {"test_top1", val_top1.back()}};
    return r;
}

search::ReportPlot plot(const std::string& kind, const std::string& metric, const std::string& group = "") {
    search::ReportPlot p;
    p.kind = kind;
    p.x = kind == "scatter" ? "macs" : "epoch";  // as the experiment's parser sets it
    p.metric = metric;
    p.group = group;
    return p;
}

}  // namespace

TEST_CASE("curves pool the seeds of a configuration into mean and standard deviation per epoch", "[report]") {
    const std::vector<TrialRecord> records = {trial("a", 1, {0.5, 0.7}, 10), trial("a", 2, {0.7, 0.9}, 10),
                                              trial("b", 1, {0.4, 0.6}, 20)};
    const auto s = runners::plot_series(records, plot("curves", "val_top1"));
    REQUIRE(s.size() == 2);
    CHECK(s[0].name == "a (n=2)");
    CHECK(s[1].name == "b");
    REQUIRE(s[0].points.size() == 2);
    CHECK(s[0].points[1].x == 2);
    CHECK(s[0].points[1].y == Approx(0.8));
    CHECK(s[0].points[1].err == Approx(std::sqrt(0.02)));  // sample std of 0.7 and 0.9
    CHECK(std::isnan(s[1].points[0].err));                  // one trial: no spread
}

TEST_CASE("a scatter point is one configuration's seeds; unfinished trials are left out", "[report]") {
    const std::vector<TrialRecord> records = {trial("a", 1, {0.80}, 10), trial("a", 2, {0.84}, 10),
                                              trial("b", 1, {0.90}, 20), trial("b", 2, {0.10}, 20, "failed")};
    auto p = plot("scatter", "test_top1", "stage");
    const auto s = runners::plot_series(records, p);
    REQUIRE(s.size() == 1);  // grouped by stage: one line through both configurations
    REQUIRE(s[0].points.size() == 2);
    CHECK(s[0].points[0].x == 10);
    CHECK(s[0].points[0].y == Approx(0.82));
    CHECK(s[0].points[1].y == Approx(0.90));
    CHECK(std::isnan(s[0].points[1].err));
    const std::string svg = runners::svg_plot("t", "macs", "test_top1", s, runners::Marks::dots, {.log_x = true});
    CHECK(svg.find("<path d=\"M") != std::string::npos);  // the whisker of the pooled point
    CHECK(svg.find("<polyline") == std::string::npos);
    // joined (EfficientNet's Fig. 3): one line through the group's points, whiskers kept
    const std::string joined =
        runners::svg_plot("t", "macs", "test_top1", s, runners::Marks::joined_dots, {.log_x = true});
    CHECK(joined.find("<path d=\"M") != std::string::npos);
    CHECK(joined.find("<polyline") != std::string::npos);
    CHECK(joined.find("<polygon") == std::string::npos);  // no band: the spread is in the whiskers
}

TEST_CASE("a scatter plot's front: a line through the points no other beats on both axes, each its own way",
          "[report]") {
    // test_top1 up, macs down: b (20, 0.90) and a (10, 0.82) make the front; c (30, 0.85) is beaten by b
    const std::vector<TrialRecord> records = {trial("a", 1, {0.82}, 10), trial("b", 1, {0.90}, 20),
                                              trial("c", 1, {0.85}, 30)};
    auto p = plot("scatter", "test_top1", "stage");
    p.front = true;
    const auto s = runners::plot_series(records, p);
    REQUIRE(s.size() == 1);
    CHECK(s[0].points.size() == 3);  // every point drawn
    REQUIRE(s[0].front.size() == 2);
    CHECK(s[0].front[0].x == 10);
    CHECK(s[0].front[1].x == 20);
    // against a cost that is better when higher (throughput), c's larger x counts for it
    std::vector<TrialRecord> fast = records;
    for (auto& r : fast) r.result["throughput"] = r.result.at("macs");
    p.x = "throughput";
    const auto t = runners::plot_series(fast, p);
    REQUIRE(t[0].front.size() == 2);  // b (0.90) and c (the most images per second)
    CHECK(t[0].front[0].x == 20);
    CHECK(t[0].front[1].x == 30);
    const std::string svg = runners::svg_plot("t", "macs", "test_top1", s, runners::Marks::dots, {.log_x = true});
    CHECK(svg.find("<polyline") != std::string::npos);  // the front's line, dots otherwise
}

TEST_CASE("a scatter plot's origin stage starts every group's line (the unscaled base of Fig. 3)", "[report]") {
    auto in_stage = [](TrialRecord r, const std::string& stage, const std::string& scaling) {
        r.stage = stage;
        if (!scaling.empty()) r.labels["scaling"] = scaling;
        return r;
    };
    const std::vector<TrialRecord> records = {
        in_stage(trial("b0", 1, {0.80}, 5), "base", ""),       in_stage(trial("b0", 2, {0.84}, 5), "base", ""),
        in_stage(trial("d", 1, {0.70}, 10), "scale", "depth"), in_stage(trial("w", 1, {0.90}, 11), "scale", "width"),
        in_stage(trial("x", 1, {0.50}, 7), "other", "depth")};
    auto p = plot("scatter", "test_top1", "scaling");
    p.stage = "scale";
    p.origin = "base";
    const auto s = runners::plot_series(records, p);
    REQUIRE(s.size() == 2);  // depth and width; the origin is no group of its own, 'other' is not shown
    for (const auto& series : s) {
        REQUIRE(series.points.size() == 2);
        CHECK(series.points[0].x == 5);
        CHECK(series.points[0].y == Approx(0.82));  // the base's two seeds pooled
        CHECK(series.points[0].err == Approx(std::sqrt(0.0008)));
    }
    CHECK(s[0].points[1].y == Approx(0.70));
    CHECK(s[1].points[1].y == Approx(0.90));
    // Without it, the lines hold the stage's own points only.
    p.origin.clear();
    CHECK(runners::plot_series(records, p)[0].points.size() == 1);
}

TEST_CASE("a log x axis spanning less than a decade still has round ticks", "[report]") {
    const runners::Series s{"compound", {{9.6e6, 0.80}, {1.5e7, 0.81}, {2.9e7, 0.82}}};
    const std::string svg = runners::svg_plot("t", "macs", "test_top1", {s}, runners::Marks::dots, {.log_x = true});
    CHECK(svg.find(">10M<") != std::string::npos);
    CHECK(svg.find(">20M<") != std::string::npos);
    CHECK(svg.find(">1e+07<") == std::string::npos);
    // 2.5M to 15M (efficientnet-scaling's figure): 1-2-5 gives two ticks, 1-2-3-5 three
    const runners::Series scaling{"compound", {{2.5e6, 0.90}, {5.2e6, 0.91}, {1.53e7, 0.92}}};
    const std::string mid = runners::svg_plot("t", "macs", "y", {scaling}, runners::Marks::dots, {.log_x = true});
    for (const char* tick : {">3M<", ">5M<", ">10M<"}) CHECK(mid.find(tick) != std::string::npos);
    CHECK(mid.find(">4M<") == std::string::npos);
    // spanning decades: their powers only
    const runners::Series wide{"a", {{2e3, 0.1}, {5e5, 0.2}, {3e8, 0.3}}};
    const std::string decades = runners::svg_plot("t", "macs", "y", {wide}, runners::Marks::dots, {.log_x = true});
    CHECK(decades.find(">10k<") != std::string::npos);
    CHECK(decades.find(">100M<") != std::string::npos);
    CHECK(decades.find(">20k<") == std::string::npos);
}

TEST_CASE("a log y axis shows errors falling towards zero and says which values it leaves out", "[report]") {
    // ResNet-56's training error: 20% to 0.06%, one epoch at exactly 0, a spread below zero
    const runners::Series s{"resnet56", {{1, 0.2, 0.05}, {8, 0.05}, {12, 0.003, 0.004}, {15, 0.0}, {16, 0.0006}}};
    const std::string svg = runners::svg_plot("t", "epoch", "train_eval_error", {s}, runners::Marks::curve,
                                              {.log_y = true});
    for (const char* tick : {">0.001<", ">0.01<", ">0.1<"}) CHECK(svg.find(tick) != std::string::npos);
    CHECK(svg.find("train_eval_error (log scale; 1 value(s) at or below 0 not shown)") != std::string::npos);
    std::size_t dots = 0;
    for (auto at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++dots;
    CHECK(dots == 4);
    CHECK(svg.find("<polygon") != std::string::npos);  // the band, cut at the axis where it goes below 0
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
    // all positive: the plain label
    const runners::Series loss{"a", {{1, 2.3}, {2, 0.4}, {3, 0.02}}};
    const std::string plain =
        runners::svg_plot("t", "epoch", "train_loss", {loss}, runners::Marks::curve, {.log_y = true});
    CHECK(plain.find("train_loss (log scale)<") != std::string::npos);
    CHECK(plain.find(">1<") != std::string::npos);
}

TEST_CASE("points: one category per group with every trial's value and their mean", "[report]") {
    const std::vector<TrialRecord> records = {trial("a", 1, {0.80}, 10), trial("b", 1, {0.90}, 20),
                                              trial("a", 2, {0.84}, 10)};
    const auto c = runners::plot_categories(records, plot("points", "test_top1"));
    REQUIRE(c.size() == 2);
    CHECK(c[0].name == "a (n=2)");
    CHECK(c[0].values == std::vector<double>{0.80, 0.84});
    CHECK(c[0].mean == Approx(0.82));
    CHECK(c[1].name == "b");
    const std::string svg = runners::svg_categories("t", "test_top1", c);
    CHECK(svg.find(">a (n=2)<") != std::string::npos);
    CHECK(svg.find("fill=\"none\"") != std::string::npos);  // the seeds' own values
}

TEST_CASE("a plot over several stages names each group's stage", "[report]") {
    TrialRecord other = trial("a", 1, {0.7}, 10);
    other.stage = "t";
    const std::vector<TrialRecord> records = {trial("a", 1, {0.80}, 10), other};
    const auto c = runners::plot_categories(records, plot("points", "test_top1"));
    REQUIRE(c.size() == 2);
    CHECK(c[0].name == "s a");
    CHECK(c[1].name == "t a");
    auto one = plot("points", "test_top1");
    one.stage = "t";
    CHECK(runners::plot_categories(records, one)[0].name == "a");
}

TEST_CASE("epochs to reach a threshold: at most it for errors, at least it for accuracies", "[report]") {
    TrialRecord r = trial("a", 1, {0.5, 0.7, 0.9}, 10);
    for (std::size_t e = 0; e < r.epochs.size(); ++e) r.epochs[e]["train_eval_error"] = 0.4 - 0.1 * double(e);
    CHECK(runners::epochs_to_reach(r, "val_top1", 0.7) == 2);
    CHECK(runners::epochs_to_reach(r, "train_eval_error", 0.25) == 3);
    CHECK(std::isnan(runners::epochs_to_reach(r, "val_top1", 0.95)));
}

TEST_CASE("a configuration of several swept settings is named by key=value pairs", "[report]") {
    TrialRecord r = trial("a", 1, {0.8}, 10);
    r.settings["lr"] = "0.1";
    r.swept = {"net", "lr", "seed"};
    const auto c = runners::plot_categories({r}, plot("points", "test_top1"));
    REQUIRE(c.size() == 1);
    CHECK(c[0].name == "net=a lr=0.1");
}

TEST_CASE("a table cell: mean ± std of the seeds, a count they share as a whole number", "[report]") {
    CHECK(runners::spread_text(runners::spread({0.90, 0.92})) == "0.9100 ± 0.0141 (n=2)");
    CHECK(runners::spread_text(runners::spread({0.9123})) == "0.9123");
    CHECK(runners::spread_text(runners::spread({5208384, 5208384})) == "5,208,384 (n=2)");
    CHECK(runners::spread_text(runners::spread({13401472})) == "13,401,472");
    CHECK(runners::spread_text(runners::spread({6, 7})) == "6.5000 ± 0.7071 (n=2)");  // whole, but not shared
    CHECK(runners::spread_text(runners::spread({NAN})).empty());
}

TEST_CASE("a stage's best trial: the configuration with the best mean over its seeds, then its best seed", "[report]") {
    // b has the single best trial (0.95) but the worse mean (0.75 against 0.85)
    std::vector<TrialRecord> records = {trial("a", 1, {0.84}, 10), trial("a", 2, {0.86}, 10),
                                        trial("b", 1, {0.95}, 20), trial("b", 2, {0.55}, 20),
                                        trial("c", 1, {0.99}, 30, "failed")};
    const TrialRecord* best = runners::best_trial(records, "s", "val_top1");
    REQUIRE(best);
    CHECK(best->id == "a2");
    CHECK(runners::best_trial(records, "s", "val_loss") == nullptr);  // no trial has it
    CHECK(runners::best_trial(records, "other", "val_top1") == nullptr);
    for (auto& r : records) r.epochs.back()["val_loss"] = 1 - r.epochs.back()["val_top1"];
    CHECK(runners::best_trial(records, "s", "val_loss")->id == "a2");  // lower is better
    records[1].status = "failed";  // only finished trials count: a's mean is 0.84 now, still ahead
    CHECK(runners::best_trial(records, "s", "val_top1")->id == "a1");
}

TEST_CASE("a table cell that pools more than seeds says which settings it mixes", "[report]") {
    auto candidate = [](double alpha, double gamma, int seed, double v) {
        TrialRecord r = trial("efficientnet", seed, {v}, 10);
        r.settings["alpha"] = fmt::format("{:g}", alpha);
        r.settings["gamma"] = fmt::format("{:g}", gamma);
        r.swept = {"alpha", "gamma", "seed"};
        return r;
    };
    search::ReportTable rt;
    rt.rows = "alpha";
    rt.metric = "val_top1";
    const std::vector<TrialRecord> records = {candidate(1, 1.2, 1, 0.91), candidate(1, 1.1, 1, 0.92),
                                              candidate(1.2, 1, 1, 0.93), candidate(1.2, 1, 2, 0.95)};
    const std::string md = runners::experiment_table(records, rt);
    CHECK(md.find("| 1     | 0.9150 ± 0.0071 (n=2) |") != std::string::npos);
    // alpha=1.2 is two seeds of one candidate: only alpha=1 is named
    CHECK(md.find("Note: the cell alpha=1 pools trials that differ in more than their seed (gamma 1.1, 1.2)") !=
          std::string::npos);
    rt.columns = "gamma";
    CHECK(runners::experiment_table(records, rt).find("Note:") == std::string::npos);
}
