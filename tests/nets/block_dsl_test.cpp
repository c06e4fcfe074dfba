// The block-string DSL: round trips, every error, and malformed input that must never crash.
#include <catch2/catch.hpp>

#include <random>

#include "nets/block_dsl.hpp"
#include "nets/error.hpp"
#include "nets/zoo.hpp"

using namespace deeper::nets;

TEST_CASE("published block strings parse and print back identically", "[nets][dsl]") {
    for (const char* s : {"ds_r1_k3_s1_e1_c16_se0.25", "ir_r2_k3_s2_e6_c24_se0.25",
                          "ir_r4_k5_s2_e6_c192_se0.25", "dsa_r6_k3_s2_c512", "ir_r1_k3_s1_e6_c320",
                          "ds_r1_k3_s1_c16", "cn_r1_k3_s2_c32", "ir_r3_k5_s1_e4.5_c96_noskip"}) {
        CHECK(to_string(parse_block(s)) == s);
    }
    BlockArgs b = parse_block("ir_r2_k5_s2_e6_c40_se0.25");
    CHECK(b.type == "ir");
    CHECK(b.repeats == 2);
    CHECK(b.kernel == 5);
    CHECK(b.stride == 2);
    CHECK(b.exp_ratio() == 6);
    CHECK(b.out_channels == 40);
    CHECK(*b.se_ratio == 0.25);
    CHECK_FALSE(b.noskip);
}

TEST_CASE("block string errors say which token is wrong", "[nets][dsl]") {
    CHECK_THROWS_WITH(parse_block("xx_r1_c16"), Catch::Contains("block type must be ds, dsa, ir, cn or id"));
    CHECK_THROWS_WITH(parse_block("ir_r2_k3_s2_e6"), Catch::Contains("missing output channels"));
    CHECK_THROWS_WITH(parse_block("ir_r2_k4_c8"), Catch::Contains("token 'k4': kernel must be odd"));
    CHECK_THROWS_WITH(parse_block("ir_rx_c8"), Catch::Contains("token 'rx'"));
    CHECK_THROWS_WITH(parse_block("ir_r1_c8_q3"), Catch::Contains("unknown option"));
    CHECK_THROWS_WITH(parse_block("ir_r1_c8_c9"), Catch::Contains("given twice"));
    CHECK_THROWS_WITH(parse_block("ir__c8"), Catch::Contains("empty token"));
    CHECK_THROWS_WITH(parse_block("ir_c8_se1.5"), Catch::Contains("not in [0, 1]"));
    CHECK_THROWS_WITH(parse_block("ir_c0"), Catch::Contains("0 is not in"));
}

TEST_CASE("malformed block strings throw InputError and never crash", "[nets][dsl]") {
    std::mt19937 rng(1234);
    const std::string alphabet = "_rkscedais0123456789.-noskipx \t";
    const std::vector<std::string> seeds = {"ir_r2_k3_s2_e6_c24_se0.25", "ds_r1_k3_s1_c16",
                                            "dsa_r6_k3_s2_c512"};
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string s = seeds[rng() % seeds.size()];
        const int edits = 1 + rng() % 4;
        for (int e = 0; e < edits; ++e) {
            const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
            switch (rng() % 3) {
                case 0: s.insert(s.begin() + pos, alphabet[rng() % alphabet.size()]); break;
                case 1: if (!s.empty() && pos < s.size()) s.erase(pos, 1); break;
                default: if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()];
            }
        }
        try {
            BlockArgs b = parse_block(s);
            ++parsed;
            // Whatever parses must print to a string that parses to the same block.
            REQUIRE(parse_block(to_string(b)) == b);
        } catch (const deeper::InputError&) {
            ++rejected;
        }
    }
    CHECK(parsed > 100);
    CHECK(rejected > 100);
}

TEST_CASE("zoo errors: unknown nets suggest the closest, bad knobs say what they take",
          "[nets][zoo]") {
    CHECK_THROWS_WITH(build_net("resnet21"), Catch::Contains("unknown net 'resnet21'") &&
                                                 Catch::Contains("did you mean 'resnet20'"));
    CHECK_THROWS_WITH(build_net("mobilenetv2"), Catch::Contains("'mobilenet-v2'"));
    CHECK_THROWS_WITH(build_net("effnet-b0"), Catch::Contains("unknown net"));
    NetOptions o;
    o.batchnorm = true;
    CHECK_THROWS_WITH(build_net("resnet20", o),
                      "resnet20 does not take the knob 'batchnorm'; it takes: resolution, classes, "
                      "in_channels, width, se_ratio, shortcut, zero_init_residual");
    NetOptions s;
    s.shortcut = "C";
    CHECK_THROWS_WITH(build_net("resnet20", s), Catch::Contains("shortcut must be A or B"));
    NetOptions h;
    h.head = "mlp";
    CHECK_THROWS_WITH(build_net("googlenet", h), Catch::Contains("head must be gap or fc"));
    CHECK_THROWS_WITH(set_knob(o, "widht", "2"), Catch::Contains("did you mean 'width'"));
    CHECK_THROWS_WITH(set_knob(o, "resolution", "-3"), Catch::Contains("positive integer"));
    CHECK_THROWS_WITH(set_knob(o, "batchnorm", "maybe"), Catch::Contains("true or false"));
}

TEST_CASE("too-small resolutions name the breaking stage and the smallest that works",
          "[nets][zoo]") {
    NetOptions o;
    o.resolution = 16;
    CHECK_THROWS_WITH(build_net("vgg-d", o),
                      "vgg-d: at stage5.pool: a 2x2 pool with stride 2 needs an input of at least "
                      "2x2, got 512x1x1 (resolution 16 is too small for vgg-d; the smallest it "
                      "builds at is 32)");
    o.resolution = 40;
    CHECK_THROWS_WITH(build_net("alexnet", o), Catch::Contains("the smallest it builds at is 63"));
}
