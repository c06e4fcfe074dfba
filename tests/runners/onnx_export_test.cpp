// ONNX export: every zoo family and a net file pass the ONNX library's checker, and its shape
// inference, run on the exported graph alone, gives every node deeper's own output shape (so the
// kernel, stride, padding, group and layout attributes agree with the engine's); the metadata
// holds the net's MACs and params; bad weights and ops without a form are refused before
// anything is written. The numbers themselves are checked against an independent runtime
// (OpenCV's DNN) by scripts/parity/onnx_export.py.
#include <catch2/catch.hpp>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <map>
#include <set>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/engine/engine.hpp"
#include "runners/export/onnx_model.hpp"
#include "runners/train/param_tensors.hpp"
#include "search/net_spec.hpp"
#include "support.hpp"

using namespace deeper;
using deeper::test::run_cli;
using deeper::test::TempDir;

namespace {

runners::SafeTensors weights_of(const nets::Graph& g) {
    runners::EngineOptions eo;
    eo.batch = 1;
    eo.threads = 1;
    eo.training = true;  // inference may keep weights in forms with no way back (Winograd's)
    runners::Engine e(g, eo);
    runners::SafeTensors st;
    runners::add_param_tensors(e, st);
    return st;
}

onnx::ModelProto parse(const std::string& bytes) {
    onnx::ModelProto m;
    REQUIRE(m.ParseFromString(bytes));
    return m;
}

std::map<std::string, std::string> metadata(const onnx::ModelProto& m) {
    std::map<std::string, std::string> out;
    for (const auto& p : m.metadata_props()) out[p.key()] = p.value();
    return out;
}

// Every ONNX tensor named after a deeper node has that node's shape, [batch, C, H, W] (or
// [batch, C] after a flatten or linear layer); returns how many were compared.
int check_inferred_shapes(onnx::ModelProto m, const nets::Graph& g, int batch) {
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), onnx::ShapeInferenceOptions(true, 1));
    int compared = 0;
    for (const auto& v : m.graph().value_info()) {
        const int id = g.find(v.name());
        if (id < 0) continue;
        const nets::Node& n = g.node(id);
        const auto& shape = v.type().tensor_type().shape();
        INFO(n.name << " (" << nets::op_name(n.op) << ")");
        REQUIRE(shape.dim_size() >= 2);
        if (batch > 0) CHECK(shape.dim(0).dim_value() == batch);
        else CHECK_FALSE(shape.dim(0).has_dim_value());  // dynamic: a symbol, not a size
        CHECK(shape.dim(1).dim_value() == n.out.c);
        if (shape.dim_size() == 4) {
            CHECK(shape.dim(2).dim_value() == n.out.h);
            CHECK(shape.dim(3).dim_value() == n.out.w);
        } else {
            CHECK(n.out.h * n.out.w == 1);
        }
        ++compared;
    }
    return compared;
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
    int n = 0;
    for (const auto& node : m.graph().node()) n += node.op_type() == op;
    return n;
}

}  // namespace

TEST_CASE("ONNX export: every zoo family checks, with deeper's shapes at every node", "[export][onnx]") {
    struct Case {
        const char* net;
        nets::NetOptions knobs;
        const char* expect_op;  // an op type the family must have produced
    };
    auto knobs = [](int res, std::optional<double> width = std::nullopt) {
        nets::NetOptions o;
        o.resolution = res;
        o.width = width;
        return o;
    };
    nets::NetOptions alexnet = knobs(96), vgg = knobs(32, 0.25), googlenet = knobs(96);
    alexnet.lrn = true, alexnet.fc_width = 128;
    vgg.batchnorm = true, vgg.fc_width = 64, vgg.activation = "tanh";
    googlenet.aux = true;
    const std::vector<Case> cases = {
        {"alexnet", alexnet, "LRN"},                        // LRN, max pooling, dropout, linear
        {"vgg-a", vgg, "Tanh"},                             // 3x3 stacks with BN, an FC head
        {"googlenet", googlenet, "Concat"},                 // Inception concat; aux heads left out
        {"resnet20", knobs(32), "Pad"},                     // option-A shortcuts: Slice + Pad
        {"plain20", knobs(32), "Relu"},
        {"resnet18", knobs(64, 0.25), "Add"},               // option-B shortcuts, max-pool stem
        {"resnet50", knobs(64, 0.25), "Add"},               // bottlenecks
        {"mobilenet-v1", knobs(64, 0.25), "Conv"},          // depthwise (group = channels)
        {"mobilenet-v2", knobs(64, 0.25), "Clip"},          // ReLU6
        {"efficientnet-b0", knobs(64, 0.25), "Sigmoid"},    // swish, SE, drop-connect
    };
    for (const auto& c : cases) {
        DYNAMIC_SECTION(c.net) {
            const nets::Graph g = nets::build_net(c.net, c.knobs);
            runners::OnnxOptions o;
            o.net = c.net;
            o.weights_source = "initialization";
            o.batch = 3;
            const runners::OnnxModel exported = runners::onnx_model(g, weights_of(g), o);
            const onnx::ModelProto m = parse(exported.bytes);
            CHECK(m.opset_import(0).version() == runners::kOnnxOpset);
            CHECK(count_ops(m, c.expect_op) > 0);
            CHECK(count_ops(m, "Dropout") == 0);
            CHECK(m.graph().output(0).name() == "logits");
            const auto meta = metadata(m);
            CHECK(meta.at("deeper.macs") == std::to_string(exported.macs));
            CHECK(meta.at("deeper.params") == std::to_string(exported.params));
            if (std::string(c.net) == "googlenet") CHECK(exported.params < g.total_params());  // no aux heads
            else CHECK(exported.macs == g.total_macs());
            // every parameter is an initializer: their sizes add up to the exported params
            std::int64_t floats = 0;
            for (const auto& t : m.graph().initializer())
                if (t.data_type() == onnx::TensorProto::FLOAT && t.name().find("running_") == std::string::npos) {
                    std::int64_t n = 1;
                    for (auto d : t.dims()) n *= d;
                    floats += n;
                }
            CHECK(floats == exported.params);
            CHECK(check_inferred_shapes(m, g, 3) > int(g.nodes.size()) / 2);
        }
    }
}

TEST_CASE("ONNX export: torchvision's names for the weights of nets it has, BN folded on request", "[export][onnx]") {
    nets::NetOptions knobs;
    knobs.resolution = 64;
    knobs.width = 0.25;
    const nets::Graph g = nets::build_net("resnet18", knobs);
    const auto w = weights_of(g);
    runners::OnnxOptions o;
    o.net = "resnet18";
    o.weights_source = "initialization";
    const onnx::ModelProto kept = parse(runners::onnx_model(g, w, o).bytes);
    std::set<std::string> names;
    for (const auto& t : kept.graph().initializer()) names.insert(t.name());
    CHECK(names.count("conv1.weight"));
    CHECK(names.count("layer1.0.bn1.running_var"));
    CHECK(names.count("fc.weight"));
    CHECK(kept.graph().input(0).type().tensor_type().shape().dim(0).dim_param() == "batch");

    o.fold_batchnorm = true;
    const onnx::ModelProto folded = parse(runners::onnx_model(g, w, o).bytes);
    CHECK(count_ops(kept, "BatchNormalization") == 20);
    CHECK(count_ops(folded, "BatchNormalization") == 0);
    CHECK(count_ops(folded, "Conv") == count_ops(kept, "Conv"));
    CHECK(metadata(folded).at("deeper.batchnorm") == "folded");
    std::set<std::string> folded_names;
    for (const auto& t : folded.graph().initializer()) folded_names.insert(t.name());
    const auto first_conv =
        std::find_if(g.nodes.begin(), g.nodes.end(), [](const nets::Node& n) { return n.op == nets::Op::conv; });
    CHECK(folded_names.count(first_conv->name + ".folded_weight"));  // deeper's name: not torchvision's values
    CHECK_FALSE(folded_names.count("conv1.weight"));
    CHECK(check_inferred_shapes(folded, g, -1) >= 0);  // dynamic batch: dim 0 has no value
}

TEST_CASE("ONNX export: a net file with positions, deeper's names", "[export][onnx]") {
    const std::string spec = std::string(DEEPER_SOURCE_DIR) + "/experiments/nets/nas-bench-macro.yaml";
    std::map<std::string, std::string> positions;
    for (int i = 1; i <= 8; ++i) positions["l" + std::to_string(i)] = i % 3 == 0 ? "id" : i % 3 == 1 ? "ir_k3_e3" : "ir_k5_e6";
    nets::NetOptions knobs;
    const nets::Graph g = search::build_spec_net(search::load_net_spec(spec, positions), knobs);
    runners::OnnxOptions o;
    o.weights_source = "initialization";
    o.batch = 2;
    const onnx::ModelProto m = parse(runners::onnx_model(g, weights_of(g), o).bytes);
    CHECK(check_inferred_shapes(m, g, 2) > 10);
    CHECK(metadata(m).at("deeper.macs") == std::to_string(g.total_macs()));
}

TEST_CASE("ONNX export refuses weights of another net and ops without a form, naming them", "[export][onnx]") {
    nets::NetOptions knobs;
    knobs.resolution = 32;
    const nets::Graph g = nets::build_net("resnet20", knobs);
    auto w = weights_of(g);
    runners::OnnxOptions o;
    o.net = "resnet20";
    o.weights_source = "w.safetensors";
    {
        auto missing = w;
        REQUIRE(missing.tensors.erase("stage2.block1.conv1.weight") == 1);
        CHECK_THROWS_WITH(runners::onnx_model(g, missing, o),
                          Catch::Contains("w.safetensors: no tensor stage2.block1.conv1.weight (32x16x3x3"));
    }
    {
        auto reshaped = w;
        const std::string fc = g.output().name + ".weight";
        REQUIRE(reshaped.tensors.count(fc));
        reshaped.tensors[fc].shape = {5, 128};
        CHECK_THROWS_WITH(runners::onnx_model(g, reshaped, o), Catch::Contains(fc + " is 5x128, the net resnet20 needs"));
    }
    {
        auto extra = w;
        extra.tensors["stage4.block0.conv1.weight"] = {{1}, {0.f}, false};
        CHECK_THROWS_WITH(runners::onnx_model(g, extra, o),
                          Catch::Contains("1 tensor(s) the net resnet20 does not use, e.g. stage4.block0.conv1.weight"));
    }
    {
        nets::Graph odd = g;
        odd.nodes[3].op = nets::Op(255);  // an op added to the engine without an ONNX form
        CHECK_THROWS_AS(runners::onnx_model(odd, w, o), InputError);
        CHECK_THROWS_WITH(runners::onnx_model(odd, w, o), Catch::Contains("has no ONNX form"));
    }
}

TEST_CASE("deeper export --format onnx: a trained checkpoint, a run folder, and bad input exit 2", "[cli][export][onnx]") {
    TempDir dir("cli-onnx");
    const auto run = (dir.path() / "run").string();
    auto t = run_cli("train resnet8 --width 0.5 --data synthetic:300 --val-size 100 --epochs 1 --batch 50 --threads 1 "
                     "--out " + run);
    INFO(t.out);
    REQUIRE(t.exit_code == 0);
    const auto onnx_path = (dir.path() / "r8.onnx").string();
    auto x = run_cli("export --weights " + run + " " + onnx_path);  // the format from the extension
    INFO(x.out);
    CHECK(x.exit_code == 0);
    CHECK_THAT(x.out, Catch::Contains("wrote " + onnx_path + ": resnet8 (ONNX opset 10)"));
    const onnx::ModelProto m = parse(deeper::test::slurp(onnx_path));
    CHECK(metadata(m).at("deeper.weights") == run + "/checkpoint.safetensors");

    // initialization weights of a zoo net at its own size; a net file needs a resolution
    auto init = run_cli("export mobilenet-v2 --width 0.25 --resolution 64 " + (dir.path() / "m.onnx").string());
    CHECK(init.exit_code == 0);
    auto no_res = run_cli("export --spec " + std::string(DEEPER_SOURCE_DIR) +
                          "/experiments/nets/mnas-fashion-space.yaml " + (dir.path() / "s.onnx").string());
    CHECK(no_res.exit_code == 2);

    // another net's weights: exit 2, nothing written
    const auto other = (dir.path() / "other.onnx").string();
    auto bad = run_cli("export resnet14 --weights " + run + " " + other);
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("no tensor stage1.block2.conv1.weight"));
    CHECK_FALSE(std::filesystem::exists(other));
    // an unwritable output, an unknown format
    bad = run_cli("export --weights " + run + " " + (dir.path() / "no/such/dir/x.onnx").string());
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("is not a folder"));
    bad = run_cli("export --weights " + run + " --format tflite " + other);
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("--format: expected onnx or torchvision, got 'tflite'"));
    bad = run_cli("export --weights " + dir.path().string() + " " + other);
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("a folder without a checkpoint.safetensors"));
    bad = run_cli("export --weights " + run + " " + (dir.path() / "x.bin").string());
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("give --format onnx|torchvision"));
}
