// The NAS-Bench-Macro space written as a net file with positions
// (experiments/nets/nas-bench-macro.yaml): every one of its 6,561 nets has the table's params
// and MACs exactly.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "nets/error.hpp"
#include "search/net_positions.hpp"
#include "search/net_spec.hpp"
#include "support/reference_data.hpp"

using namespace deeper;

namespace {

const char* const kOps[] = {"id", "ir_k3_e3", "ir_k5_e6"};  // the table's digits 0, 1, 2

std::map<std::string, std::string> positions_of(const std::string& arch) {
    std::map<std::string, std::string> p;
    for (std::size_t i = 0; i < arch.size(); ++i) p["l" + std::to_string(i + 1)] = kOps[arch[i] - '0'];
    return p;
}

const std::string kNetFile = std::string(DEEPER_SOURCE_DIR) + "/experiments/nets/nas-bench-macro.yaml";

}  // namespace

TEST_CASE("all 6,561 NAS-Bench-Macro nets built from the net file count as the table does", "[search][nasbench]") {
    const auto path = test::nas_bench_macro_json();
    if (!std::filesystem::exists(path)) {
        if (test::reference_waived()) return;
        FAIL("missing " << path << " (set DEEPER_REFERENCE_DIR, or DEEPER_NO_REFERENCE=1 on a machine without it)");
    }
    std::ifstream in(path);
    const auto table = nlohmann::json::parse(in);
    REQUIRE(table.size() == 6561);
    std::size_t checked = 0;
    for (const auto& [arch, entry] : table.items()) {
        const nets::Graph g = search::build_spec_net(search::load_net_spec(kNetFile, positions_of(arch)), {});
        INFO(arch);
        REQUIRE(g.total_params() == entry["params"].get<std::int64_t>());
        REQUIRE(g.total_macs() == entry["flops"].get<std::int64_t>());
        ++checked;
    }
    CHECK(checked == 6561);
}

TEST_CASE("net file positions: filled, named when missing or unknown", "[search][spec]") {
    const std::string text = "blocks: [\"${a}_s2_c8\", \"${b}_c8\", \"${a}_c8\"]";
    CHECK(search::net_positions(text) == std::vector<std::string>{"a", "b"});
    CHECK(search::fill_net_positions(text, {{"a", "id"}, {"b", "ir_k3_e3"}}, "f.yaml") ==
          "blocks: [\"id_s2_c8\", \"ir_k3_e3_c8\", \"id_c8\"]");
    CHECK_THROWS_WITH(search::fill_net_positions(text, {{"a", "id"}}, "f.yaml"),
                      Catch::Contains("f.yaml: position ${b} has no value; set net.b"));
    CHECK_THROWS_WITH(search::fill_net_positions(text, {{"a", "id"}, {"b", "id"}, {"c", "id"}}, "f.yaml"),
                      Catch::Contains("net.c: the net file f.yaml has no position ${c} (it has a, b)"));
    // the identity op keeps a shape-keeping layer empty and downsamples where the shape changes
    const auto one = search::build_spec_net(search::load_net_spec(kNetFile, positions_of("00000000")), {});
    std::size_t downs = 0;
    for (const auto& n : one.nodes) downs += n.name.find(".down.conv") != std::string::npos;
    CHECK(downs == 3);
}
