#include <catch2/catch.hpp>

#include "nets/zoo.hpp"

using namespace deeper::nets;

TEST_CASE("placeholder builds") {
    auto g = build_net("resnet20");
    CHECK(g.total_params() == 269722);
}
