// The seed arithmetic of the brief: what 1x1 bottlenecks and stacked 3x3 convs save.
#include <catch2/catch.hpp>

#include "nets/builder.hpp"

using namespace deeper::nets;

TEST_CASE("1x1 bottlenecks: 16,384 / 409,600 / 118,784 weights", "[nets]") {
    Builder b("seed", Shape{256, 28, 28});
    int x = b.input();
    int one = b.conv(x, 64, 1, 1, 1, false, "one");
    int five = b.conv(x, 64, 5, 1, 1, false, "five");
    int reduce = b.conv(x, 64, 1, 1, 1, false, "reduce");
    int after = b.conv(reduce, 64, 5, 1, 1, false, "after");
    Graph g = b.finish();
    CHECK(g.node(one).params == 16'384);
    CHECK(g.node(five).params == 409'600);
    CHECK(g.node(reduce).params + g.node(after).params == 118'784);
}

TEST_CASE("three stacked 3x3 convs: 27C^2 weights against 49C^2 for one 7x7", "[nets]") {
    for (int c : {16, 64, 512}) {
        Builder b("seed", Shape{c, 14, 14});
        int x = b.input();
        int stacked = b.conv(b.conv(b.conv(x, c, 3, 1, 1, false, "a"), c, 3, 1, 1, false, "b"), c,
                             3, 1, 1, false, "c");
        int seven = b.conv(x, c, 7, 1, 1, false, "seven");
        Graph g = b.finish();
        CHECK(g.total_params() - g.node(seven).params == 27LL * c * c);
        CHECK(g.node(seven).params == 49LL * c * c);
        CHECK(g.node(stacked).out == g.node(seven).out);
    }
}

TEST_CASE("counting rules: conv, depthwise, linear, batchnorm", "[nets]") {
    Builder b("rules", Shape{32, 10, 10});
    int x = b.input();
    int dw = b.conv(x, 32, 3, 2, 32, false, "dw");
    int bn = b.batchnorm(dw, "bn");
    int pw = b.conv(bn, 64, 1, 1, 1, true, "pw");
    int fc = b.linear(b.flatten(pw), 7, true, "fc");
    Graph g = b.finish();
    CHECK(g.node(dw).out == Shape{32, 5, 5});
    CHECK(g.node(dw).params == 32 * 9);
    CHECK(g.node(dw).macs == 32 * 25 * 9);
    CHECK(g.node(bn).params == 64);  // scale and shift; running stats are not params
    CHECK(g.node(pw).params == 32 * 64 + 64);
    CHECK(g.node(pw).macs == 64 * 25 * 32);
    CHECK(g.node(fc).params == 64 * 25 * 7 + 7);
    CHECK(g.node(fc).macs == 64 * 25 * 7);
}

TEST_CASE("pooling follows PyTorch's ceil-mode rule with explicit right padding", "[nets]") {
    Builder b("pool", Shape{8, 112, 112});
    int p = b.max_pool(b.input(), 3, 2, 0, true);
    int q = b.max_pool(p, 3, 2, 0, false, "floor");
    Graph g = b.finish();
    CHECK(g.node(p).out.h == 56);  // floor mode would give 55
    CHECK(std::get<PoolAttrs>(g.node(p).attrs).pad_b == 1);
    CHECK(g.node(q).out.h == 27);
}

TEST_CASE("shape errors name the node and what it needed", "[nets]") {
    Builder b("bad", Shape{3, 4, 4});
    int x = b.input();
    auto s = b.scope("stage1");
    CHECK_THROWS_WITH(b.conv(x, 8, 7, 1, 1, false, "conv", 0),
                      "bad: at stage1.conv: a 7x7 conv needs an input of at least 7x7, got 3x4x4");
    CHECK_THROWS_WITH(b.conv(x, 8, 3, 1, 2, false, "grouped"),
                      Catch::Contains("2 groups do not divide 3 input"));
    int y = b.conv(x, 8, 3, 2, 1, false, "down");
    CHECK_THROWS_WITH(b.add(x, y), Catch::Contains("cannot add 3x4x4 and 8x2x2"));
    CHECK_THROWS_WITH(b.concat({x, y}), Catch::Contains("cannot concat"));
    CHECK_THROWS_WITH(b.dropout(x, 1.0f), Catch::Contains("not in [0, 1)"));
}
