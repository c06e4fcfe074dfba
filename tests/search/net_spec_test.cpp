// User-defined nets in YAML: both styles build, and every error says file:line:column.
#include <catch2/catch.hpp>

#include <algorithm>

#include "nets/error.hpp"
#include "search/net_spec.hpp"

using namespace deeper;

TEST_CASE("a plain (VGG-style) net from YAML counts like the builder", "[search][spec]") {
    auto spec = search::parse_net_spec(R"(
name: tiny-vgg
type: plain
layers: [32, M, 64, conv1-64, M]
batchnorm: true
classifier: [128]
resolution: 28
in_channels: 1
classes: 10
)", "tiny.yaml");
    nets::Graph g = search::build_spec_net(spec, {});
    CHECK(g.name == "tiny-vgg");
    CHECK(g.input_shape() == nets::Shape{1, 28, 28});
    const std::int64_t expected = (9 * 1 * 32) + 64 + (9 * 32 * 64) + 128 + (64 * 64) + 128 +
                                  (64 * 7 * 7 * 128 + 128) + (128 * 10 + 10);
    CHECK(g.total_params() == expected);
    nets::NetOptions o;
    o.resolution = 56;
    CHECK(search::build_spec_net(spec, o).input_shape().h == 56);
}

TEST_CASE("a net file's activation is set in the file or by the knob; a knob it would ignore is refused",
          "[search][spec]") {
    auto spec = search::parse_net_spec(R"(
name: four-layer
type: plain
layers: [32, M, 32, M, 64, M]
classifier: []
activation: tanh
resolution: 32
in_channels: 1
classes: 10
)", "four.yaml");
    auto count = [](const nets::Graph& g, nets::Op op) {
        return std::count_if(g.nodes.begin(), g.nodes.end(), [&](const nets::Node& n) { return n.op == op; });
    };
    const nets::Graph from_file = search::build_spec_net(spec, {});
    CHECK(count(from_file, nets::Op::tanh) == 3);
    CHECK(count(from_file, nets::Op::relu) == 0);
    nets::NetOptions o;
    o.activation = "relu";  // a sweep over activation must change the net
    const nets::Graph from_knob = search::build_spec_net(spec, o);
    CHECK(count(from_knob, nets::Op::relu) == 3);
    CHECK(count(from_knob, nets::Op::tanh) == 0);
    o.activation = "gelu";
    CHECK_THROWS_WITH(search::build_spec_net(spec, o), Catch::Contains("gelu"));
    nets::NetOptions se;
    se.se_ratio = 0.25;
    CHECK_THROWS_WITH(search::build_spec_net(spec, se),
                      Catch::Contains("four-layer (four.yaml, a plain net) does not take the knob 'se_ratio'") &&
                          Catch::Contains("activation, batchnorm"));
}

TEST_CASE("an mbconv net from YAML reproduces MobileNetV2 from the zoo", "[search][spec]") {
    auto spec = search::parse_net_spec(R"(
name: my-v2
type: mbconv
stem: 32
blocks: [ds_r1_k3_s1_c16, ir_r2_k3_s2_e6_c24, ir_r3_k3_s2_e6_c32, ir_r4_k3_s2_e6_c64,
         ir_r3_k3_s1_e6_c96, ir_r3_k3_s2_e6_c160, ir_r1_k3_s1_e6_c320]
head: 1280
activation: relu6
dropout: 0.2
)", "v2.yaml");
    CHECK(search::build_spec_net(spec, {}).total_params() == 3'504'872);
}

TEST_CASE("net spec errors carry file:line:column", "[search][spec]") {
    auto err = [](const std::string& text) {
        try {
            search::parse_net_spec(text, "net.yaml");
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(err("type: plain\nlayers: [32, Q, 64]\n") ==
          "net.yaml:2:14: layer 'Q': expected a filter count from 1 to 65536 (64), convK-C with an odd K "
          "(conv1-256), M or LRN");
    // a layer too wide to count (3,000,000 filters overflowed the parameter count)
    CHECK_THAT(err("type: plain\nlayers: [3000000]\n"), Catch::Contains("layer '3000000': expected a filter count from 1 to 65536"));
    CHECK_THAT(err("type: plain\nlayers: [8]\nclassifier: [3000000]\n"),
               Catch::Contains("widths are whole numbers from 1 to 65536"));
    CHECK(err("type: mbconv\nblocks:\n  - ir_r2_k3_s2_e6_c24\n  - ir_r2_k4_c8\n") ==
          "net.yaml:4:5: block 'ir_r2_k4_c8': token 'k4': kernel must be odd");
    CHECK(err("type: plain\nlayers: [32]\nbatchnrom: true\n") ==
          "net.yaml:3:1: unknown key 'batchnrom' in a plain net (did you mean 'batchnorm'?)");
    CHECK(err("type: resnet\n") == "net.yaml:1:7: key 'type': expected plain or mbconv, got 'resnet'");
    CHECK(err("layers: [32]\n") == "net.yaml:1:1: missing key 'type' (plain or mbconv)");
    CHECK(err("type: plain\nlayers: [32\n") .rfind("net.yaml:", 0) == 0);
    CHECK(err("type: plain\nlayers: [32]\nresolution: big\n") ==
          "net.yaml:3:13: key 'resolution': expected an integer");
    CHECK(err("type: mbconv\nblocks: [ir_c8]\nactivation: gelu\n") ==
          "net.yaml:3:13: key 'activation': expected relu, relu6, swish, sigmoid or tanh, got 'gelu'");
    CHECK(err("- just\n- a list\n") == "net.yaml:1:1: expected a mapping of keys");
}
