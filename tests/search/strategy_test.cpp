// Search spaces, strategies and Pareto tools against hand-computed cases.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "search/pareto.hpp"
#include "search/space.hpp"
#include "search/strategy.hpp"

using namespace deeper::search;

namespace {

RandomDim choice(std::vector<std::string> c) {
    RandomDim d;
    d.kind = "choice";
    d.choices = std::move(c);
    return d;
}

SearchSpace three_by_three() {
    return SearchSpace({{"a", choice({"x", "y", "z"})}, {"b", choice({"x", "y", "z"})}});
}

int differing(const Point& p, const Point& q) {
    int n = 0;
    for (std::size_t i = 0; i < p.size(); ++i) n += p[i] != q[i];
    return n;
}

}  // namespace

TEST_CASE("a space: sizes, settings and points, mixed-radix enumeration, one-dimension mutations", "[search][space]") {
    RandomDim i;
    i.kind = "int";
    i.lo = 16;
    i.hi = 64;
    i.step = 16;
    RandomDim lr;
    lr.kind = "log_uniform";
    lr.lo = 0.01;
    lr.hi = 1;
    const SearchSpace s({{"net.l1", choice({"id", "ir_k3_e3"})}, {"width", i}});
    CHECK(s.finite());
    CHECK(s.size() == 8);
    CHECK(s.values(1) == 4);
    std::set<std::string> keys;
    for (std::uint64_t k = 0; k < 8; ++k) keys.insert(s.key(s.nth(k)));
    CHECK(keys.size() == 8);
    CHECK(s.settings(s.nth(7)) == Settings{{"net.l1", "ir_k3_e3"}, {"width", "64"}});
    CHECK(s.point_of({{"net.l1", "id"}, {"width", "32"}}) == Point{0, 32});
    CHECK_FALSE(s.point_of({{"net.l1", "id"}, {"width", "40"}}));  // not on the step
    CHECK_FALSE(s.point_of({{"net.l1", "skip"}, {"width", "32"}}));
    Rng rng(1);
    for (int k = 0; k < 100; ++k) {
        const Point p = s.sample(rng);
        CHECK(differing(p, s.mutate(p, rng)) == 1);
    }
    const SearchSpace real({{"lr", lr}});
    CHECK(std::isinf(real.size()));
    for (int k = 0; k < 100; ++k) {
        const Point p = real.sample(rng);
        CHECK(p[0] >= 0.01);
        CHECK(p[0] <= 1);
        CHECK(real.point_of(real.settings(p)) == p);  // a real is what its setting prints
    }
}

TEST_CASE("non-dominated sorting, crowding and hypervolume on hand-made points", "[search][pareto]") {
    // losses (both minimized): a front of three, one point behind it, a copy of a front point
    const std::vector<Losses> p = {{1, 5}, {2, 3}, {4, 1}, {3, 4}, {2, 3}, {5, 5}};
    CHECK(nondominated_ranks(p) == std::vector<int>{0, 0, 0, 1, 0, 2});
    CHECK(dominates({1, 1}, {1, 2}));
    CHECK_FALSE(dominates({1, 2}, {1, 2}));  // equal points: neither
    const auto d = crowding_distances(p, {0, 1, 2});
    CHECK(std::isinf(d[0]));
    CHECK(std::isinf(d[2]));
    CHECK(d[1] == Approx((4.0 - 1.0) / 3.0 + (5.0 - 1.0) / 4.0));
    // volume up to (6, 6): staircase 5x1 + 4x2 + 2x2 = ... by hand: x in [1,2): 6-5=1; [2,4): 6-3=3; [4,6): 6-1=5
    CHECK(hypervolume({{1, 5}, {2, 3}, {4, 1}}, {6, 6}) == Approx(1 * 1 + 2 * 3 + 2 * 5));
    CHECK(hypervolume({{1, 5}, {2, 3}, {4, 1}, {3, 4}}, {6, 6}) == Approx(17));  // a dominated point adds nothing
    CHECK(hypervolume({{7, 1}}, {6, 6}) == 0);  // beyond the reference
    CHECK(hypervolume({{1, 1, 1}}, {2, 3, 4}) == Approx(1 * 2 * 3));
    CHECK(hypervolume({{1, 2, 1}, {2, 1, 1}}, {3, 3, 3}) == Approx(4 + 4 - 2));
}

TEST_CASE("best-first ranking: one objective by loss, several by rank then crowding, unscored last", "[search][strategy]") {
    std::vector<Observation> h = {{{0, 0}, {0.3}, true}, {{0, 1}, {}, true}, {{0, 2}, {0.1}, true}, {{1, 0}, {}, false}};
    CHECK(rank_best_first(h, {0, 1, 2, 3}) == std::vector<std::size_t>{2, 0, 1, 3});
    std::vector<Observation> m = {{{0, 0}, {1, 5}, true}, {{0, 1}, {3, 4}, true}, {{0, 2}, {2, 3}, true}, {{1, 0}, {4, 1}, true}};
    const auto order = rank_best_first(m, {0, 1, 2, 3});
    CHECK(order.back() == 1);  // the only dominated point
    CHECK(order[2] == 2);      // the front's middle point: finite crowding, after the two extremes
}

TEST_CASE("regularized evolution: random until the population fills, then a one-change child of the tournament's "
          "best among the youngest",
          "[search][strategy][evolution]") {
    const SearchSpace s = three_by_three();
    StrategyOptions o;
    o.name = "evolution";
    o.population = 3;
    o.tournament = 3;  // the whole population: the parent is its best
    const auto evo = make_strategy(o, s);
    // The best point of all is the oldest: aged out of a population of the last three.
    std::vector<Observation> h = {{{0, 0}, {0.0}, true},
                                  {{1, 1}, {0.5}, true},
                                  {{2, 2}, {0.2}, true},  // the best of the last three
                                  {{2, 0}, {}, false},    // refused by a constraint: never a member
                                  {{0, 2}, {0.9}, true}};
    Rng rng(7);
    for (int k = 0; k < 50; ++k) {
        const Point child = evo->propose(h, rng);
        CHECK(differing(child, {2, 2}) == 1);
    }
    // two evaluated points are fewer than the population: random proposals
    const std::vector<Observation> young = {h[0], h[1]};
    std::set<std::string> seen;
    for (int k = 0; k < 200; ++k) seen.insert(s.key(evo->propose(young, rng)));
    CHECK(seen.size() == 9);
    // tournament of 1: a uniformly drawn member is the parent, so every member's neighbours appear
    o.tournament = 1;
    const auto one = make_strategy(o, s);
    int near_best = 0;
    for (int k = 0; k < 300; ++k) near_best += differing(one->propose(h, rng), {2, 2}) == 1;
    CHECK(near_best > 50);
    CHECK(near_best < 250);
}

TEST_CASE("TPE: Optuna's split of good and bad, and proposals drawn towards the good", "[search][strategy][tpe]") {
    CHECK(tpe_good_count(10) == 1);
    CHECK(tpe_good_count(11) == 2);
    CHECK(tpe_good_count(100) == 10);
    CHECK(tpe_good_count(1000) == 25);
    const SearchSpace s = three_by_three();
    StrategyOptions o;
    o.name = "tpe";
    const auto tpe = make_strategy(o, s);
    // a = z is good wherever b is; 30 points
    std::vector<Observation> h;
    Rng rng(3);
    for (int k = 0; k < 30; ++k) {
        const Point p = s.sample(rng);
        h.push_back({p, {p[0] == 2 ? 0.1 : 1.0 + 0.01 * k}, true});
    }
    int good = 0;
    for (int k = 0; k < 100; ++k) good += tpe->propose(h, rng)[0] == 2;
    CHECK(good > 80);
    // fewer than `startup` scored points: random (refused points do not count)
    std::vector<Observation> few(h.begin(), h.begin() + 5);
    for (int k = 0; k < 20; ++k) few.push_back({s.sample(rng), {}, false});
    std::set<double> firsts;
    for (int k = 0; k < 100; ++k) firsts.insert(tpe->propose(few, rng)[0]);
    CHECK(firsts.size() == 3);
}

TEST_CASE("proposals skip what was seen; an exhausted space says so", "[search][strategy]") {
    const SearchSpace s = three_by_three();
    const auto random = make_strategy(StrategyOptions{}, s);
    std::set<std::string> seen;
    for (std::uint64_t k = 0; k < 9; ++k)
        if (k != 4) seen.insert(s.key(s.nth(k)));
    Rng rng(5);
    const auto last = propose_unseen(*random, s, {}, seen, rng);
    REQUIRE(last);
    CHECK(*last == s.nth(4));
    seen.insert(s.key(*last));
    CHECK_FALSE(propose_unseen(*random, s, {}, seen, rng));
}
