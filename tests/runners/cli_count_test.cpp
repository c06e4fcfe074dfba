// End-to-end runs of `deeper nets`, `deeper count` and the global options.
#include <catch2/catch.hpp>

#include "support.hpp"

using deeper::test::run_cli;

TEST_CASE("deeper --version and --help", "[cli]") {
    auto v = run_cli("--version");
    CHECK(v.exit_code == 0);
    CHECK_THAT(v.out, Catch::StartsWith("deeper 0."));
    auto h = run_cli("count --help");
    CHECK(h.exit_code == 0);
    CHECK_THAT(h.out, Catch::Contains("--resolution") && Catch::Contains("--se-ratio"));
    CHECK(run_cli("").exit_code == 2);
    CHECK(run_cli("frobnicate").exit_code == 2);
}

TEST_CASE("deeper nets lists the zoo", "[cli]") {
    auto r = run_cli("nets --format csv");
    CHECK(r.exit_code == 0);
    for (const char* n : {"alexnet", "vgg-a-lrn", "vgg-b-5x5", "googlenet", "resnet152",
                          "plain56", "se-resnet50", "mobilenet-v1", "mobilenet-v2",
                          "efficientnet-b7", "efficientnet"})
        CHECK_THAT(r.out, Catch::Contains(std::string("\n") + n + ","));
}

TEST_CASE("deeper count reproduces MobileNet Table 8 in Markdown", "[cli]") {
    auto r = run_cli("count mobilenet-v1 googlenet vgg-d --format md");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("| mobilenet-v1 |") && Catch::Contains("568.7") &&
                          Catch::Contains("| googlenet") && Catch::Contains("| vgg-d") &&
                          Catch::Contains("138.4"));
}

TEST_CASE("deeper count csv has one row per net and knob combination", "[cli]") {
    auto r = run_cli("count mobilenet-v1 --width 1,0.5 --resolution 224,128 --format csv");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::StartsWith("net,knobs,resolution,classes,params,macs\n"));
    CHECK_THAT(r.out, Catch::Contains("mobilenet-v1,\"resolution=128,width=0.5\",128,1000,"));
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 5);
}

TEST_CASE("deeper count --layers prints the per-layer table", "[cli]") {
    auto r = run_cli("count resnet20 --layers --format csv");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("net,layer,op,output,params,macs\n"));
    CHECK_THAT(r.out, Catch::Contains("resnet20,stage2.block1.shortcut.pad,zero_pad_shortcut,32x16x16,0,0"));
    CHECK_THAT(r.out, Catch::Contains("resnet20,head.fc,linear,10x1x1,650,640"));
    auto j = run_cli("count resnet20 --format json");
    CHECK_THAT(j.out, Catch::Contains("\"params\": 269722"));
}

TEST_CASE("deeper count --spec counts a YAML net", "[cli]") {
    deeper::test::TempDir dir("count-spec");
    auto path = dir.write("net.yaml", "type: plain\nlayers: [8, M]\nclassifier: []\nresolution: 4\nclasses: 2\n");
    auto r = run_cli("count --spec " + path + " --format csv");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("custom,,4,2,"));
    auto bad = dir.write("bad.yaml", "type: plain\nlayers: [8, X]\n");
    auto e = run_cli("count --spec " + bad);
    CHECK(e.exit_code == 2);
    CHECK_THAT(e.out, Catch::Contains("bad.yaml:2:13: layer 'X'"));
}

TEST_CASE("deeper count errors exit 2 with a clear message", "[cli]") {
    auto u = run_cli("count vgg-dd");
    CHECK(u.exit_code == 2);
    CHECK_THAT(u.out, Catch::Contains("unknown net 'vgg-dd' (did you mean 'vgg-d'"));
    auto k = run_cli("count resnet20 --width abc");
    CHECK(k.exit_code == 2);
    CHECK_THAT(k.out, Catch::Contains("knob 'width': expected a non-negative number, got 'abc'"));
    auto s = run_cli("count vgg-a --resolution 8");
    CHECK(s.exit_code == 2);
    CHECK_THAT(s.out, Catch::Contains("the smallest it builds at is 32"));
    auto f = run_cli("count vgg-a --format xml");
    CHECK(f.exit_code == 2);
    CHECK(run_cli("count").exit_code == 2);
}

TEST_CASE("count refuses more knob combinations than it builds in one call, before building any", "[cli][count]") {
    std::string widths, depths;
    for (int i = 1; i <= 3000; ++i) {
        widths += (i > 1 ? "," : "") + std::to_string(1 + i / 10000.0);
        depths += (i > 1 ? "," : "") + std::to_string(1 + i / 10000.0);
    }
    const auto r = deeper::test::run_cli("count efficientnet --width " + widths + " --depth " + depths, deeper::test::memory_limit(4194304));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("9000000 combinations of knob values (3000 width x 3000 depth); at most 10000"));
}
