// End-to-end run of `deeper bench` on a tiny net.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <sstream>
#include <string>
#include <vector>

#include "nets/zoo.hpp"
#include "runners/engine/precision.hpp"
#include "runners/train/safetensors.hpp"
#include "support.hpp"

using deeper::test::run_cli;

TEST_CASE("deeper bench measures a tiny net", "[cli]") {
    auto r = run_cli("bench resnet8 --resolution 8 --width 0.5 --batch 4 --steps 2 --warmup 1 "
                     "--threads 1 --format csv --tune off");
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::StartsWith("net,knobs,batch,threads,precision,tune,compile_s,isa,train_img_per_s,infer_img_per_s,"
                                        "train_gflop_per_s,train_step_ms,peak_rss_mib,arena_mib,macs\n"));
    CHECK_THAT(r.out, Catch::Contains("resnet8,\"resolution=8,width=0.5\",4,1,f32,off,"));
    for (const char* algorithm : {"direct", "winograd", "gemm", "winograd-f2"}) {  // the A/B switches
        auto a = run_cli("bench resnet8 --resolution 8 --width 0.5 --batch 4 --steps 1 --warmup 0 --threads 1 "
                         "--format csv --conv-algorithm " + std::string(algorithm));
        INFO(algorithm << ": " << a.out);
        CHECK(a.exit_code == 0);
    }
    CHECK(run_cli("bench resnet8 --conv-algorithm fastest").exit_code == 2);
}

TEST_CASE("deeper bench --layers prints each conv's candidate forms, their times and the choice", "[cli][tune]") {
    deeper::test::TempDir dir("bench-layers");
    const std::string env = "DEEPER_TUNE_CACHE=" + dir.path().string();
    const std::string args = "bench resnet8 --resolution 8 --width 0.5 --batch 4 --steps 2 --warmup 1 --threads 1 --layers";
    auto cold = run_cli(args, env);
    INFO(cold.out);
    REQUIRE(cold.exit_code == 0);
    CHECK_THAT(cold.out, Catch::Contains("tuned 7 conv(s) of resnet8") && Catch::Contains("stem.conv") &&
                             Catch::Contains("f32:winograd") && Catch::Contains("whole training step:"));
    for (const char* col : {"node", "segment", "form", "step_ms", "vs_best", "chosen"})
        CHECK_THAT(cold.out, Catch::Contains(col));
    auto warm = run_cli(args + " --format csv", env);  // every time from the cache: no note
    CHECK(warm.exit_code == 0);
    CHECK_THAT(warm.out, !Catch::Contains("tuned ") && Catch::Contains(",f32,cached,"));
    CHECK(run_cli(args + " --tune sometimes").exit_code == 2);
}

TEST_CASE("deeper bench --nodes prints each node's time in a training step, the shares summing to the whole",
          "[cli]") {
    auto r = run_cli("bench resnet8 --resolution 8 --width 0.5 --batch 4 --steps 2 --warmup 1 --threads 1 "
                     "--tune off --nodes");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("resnet8: ") &&
                          Catch::Contains(" ms per training step in its nodes (mean of 2 steps)"));
    double shares = 0;
    int rows = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.back() == '%') {
            shares += std::stod(line.substr(line.find_last_of(' ') + 1));
            ++rows;
        }
    CHECK(rows == int(deeper::nets::build_net("resnet8").nodes.size()) - 1);  // every node but the input
    // each share is printed to 0.1%: the sum is off by at most half of that per row (it once
    // summed to 99.5 over 39 rows, failing a fixed 0.5 margin)
    CHECK(shares == Approx(100).margin(0.05 * rows + 1e-6));
    for (const char* node : {"stem.conv", "stage2.block1.shortcut.pad", "head.fc"})
        CHECK_THAT(r.out, Catch::Contains(node));
}

TEST_CASE("deeper bench --precision bf16 runs where the CPU has bf16, and refuses where not", "[cli]") {
    const std::string args = "bench resnet8 --resolution 8 --width 0.5 --batch 4 --steps 2 --warmup 1 "
                             "--threads 1 --format csv --precision bf16";
    if (deeper::runners::cpu_has_bf16()) {
        auto r = run_cli(args);
        INFO(r.out);
        REQUIRE(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::Contains("resnet8,\"resolution=8,width=0.5\",4,1,bf16,"));
    }
    // oneDNN dispatches to no more than ONEDNN_MAX_CPU_ISA: a CPU without bf16 instructions
    for (const char* cmd : {"", "train resnet8 --data synthetic:200 --val-size 50 --epochs 1 --precision bf16"}) {
        auto r = run_cli(*cmd ? cmd : args, "ONEDNN_MAX_CPU_ISA=AVX512_CORE");
        INFO(r.out);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.out, Catch::Contains("precision bf16 needs a CPU with AVX512-BF16 or AMX") &&
                              Catch::Contains("this one offers avx512_core"));
    }
}

TEST_CASE("deeper bench --spec times a net file with its positions filled, as a search's trial", "[cli][latency]") {
    deeper::test::TempDir dir("bench-spec");
    const std::string space = fmt::format("{}/experiments/nets/mnas-fashion-space.yaml", DEEPER_SOURCE_DIR);
    std::string positions;  // the latency search's third find (results/fashion-search-latency-target): 1,073,112 MACs
    for (const char* p : {"k1=5", "e1=1", "se1=0.25", "r1=1", "k2=3", "e2=1", "se2=0", "r2=1", "k3=5", "e3=1", "se3=0",
                          "r3=3"})
        positions += std::string(" --position ") + p;
    auto r = run_cli("bench --spec " + space + positions + " --resolution 28 --latency --threads 1 --format csv",
                     "DEEPER_TUNE_CACHE=" + dir.path().string());
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("mnas-fashion-space.yaml k1=5 e1=1 se1=0.25"));
    CHECK_THAT(r.out, Catch::Contains(",1,1,f32,") && Catch::EndsWith(",1073112\n"));
    auto bad = run_cli("bench resnet8 --position k1=3 --latency");
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("--position fills a net file's ${NAME}: give --spec FILE"));
    auto unfilled = run_cli("bench --spec " + space + " --latency");  // its ${NAME}s left empty
    CHECK(unfilled.exit_code == 2);
}

TEST_CASE("deeper bench --ceilings measures the machine's fp32 and bf16 arithmetic ceilings", "[cli]") {
    auto r = run_cli("bench --ceilings --threads 1 --format csv");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::StartsWith("ceiling,kernel,threads,isa,gflop_per_s\n"));
    std::vector<std::string> names;
    std::istringstream lines(r.out);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) {
        names.push_back(line.substr(0, line.find(',')));
        CHECK(std::stod(line.substr(line.rfind(',') + 1)) > 0);
        CHECK_THAT(line, Catch::Contains(",1,"));  // the threads asked for
    }
    const bool bf16 = deeper::runners::cpu_has_bf16();
    std::vector<std::string> want = {"fp32 FMA register loop"};
    if (bf16) want.push_back("bf16 dot-product register loop");
    want.push_back("oneDNN matmul 2048^3 fp32");
    if (bf16) want.push_back("oneDNN matmul 2048^3 bf16");
    if (!__builtin_cpu_supports("avx512f")) want.erase(want.begin());
    CHECK(names == want);
}

TEST_CASE("deeper bench rejects bad input with exit code 2", "[cli]") {
    CHECK(run_cli("bench").exit_code == 2);
    CHECK(run_cli("bench resnet8 --batch 0").exit_code == 2);
    auto p = run_cli("bench resnet8 --precision fp8");
    CHECK(p.exit_code == 2);
    CHECK_THAT(p.out, Catch::Contains("precision"));
}

TEST_CASE("deeper dump writes one step's tensors for a parity check", "[cli]") {
    deeper::test::TempDir dir("dump");
    const auto out = (dir.path() / "step.safetensors").string();
    auto r = run_cli("dump resnet8 --resolution 8 --width 0.5 --classes 5 --batch 2 --threads 1 --out " + out);
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    const auto st = deeper::runners::read_safetensors(out);
    for (const char* k : {"input", "labels", "logits", "loss", "param.stem.conv.weight", "grad.stem.conv.weight",
                          "act.stage1.block1.conv1", "dact.stage1.block1.conv1"})
        CHECK(st.tensors.count(k) == 1);
    CHECK(st.tensors.at("logits").shape == std::vector<std::int64_t>{2, 5});
    CHECK(st.metadata.at("param_order").rfind("stem.conv.weight,", 0) == 0);
}
