// End-to-end runs of `deeper eval`: a checkpoint measured again gives the numbers its run
// reported, the predictions CSV has one row per image in the dataset's order, bad input exits 2.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runners/train/safetensors.hpp"
#include "runners/train/torchvision_names.hpp"
#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::TempDir;

namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("deeper eval measures a checkpoint as its run did, and writes predictions", "[cli][eval]") {
    TempDir dir("cli-eval");
    const auto out = (dir.path() / "run").string();
    auto t = run_cli("train resnet8 --width 0.5 --data synthetic:1000 --val-size 200 --epochs 2 --batch 50 --threads 1 "
                     "--seed 4 --out " + out);
    INFO(t.out);
    REQUIRE(t.exit_code == 0);
    // the run's last epoch: val loss and top-1 as printed ("val loss 1.5392 top1 0.5733")
    const auto at = t.out.rfind("val loss ");
    REQUIRE(at != std::string::npos);
    const std::string val = t.out.substr(at + 9, 6), val_top1 = t.out.substr(at + 21, 6);
    const auto test_at = t.out.find("test: loss ");
    REQUIRE(test_at != std::string::npos);
    const std::string test = t.out.substr(test_at + 11, 6);

    auto v = run_cli("eval --weights " + out + "/checkpoint.safetensors --threads 1");
    INFO(v.out);
    CHECK(v.exit_code == 0);
    CHECK_THAT(v.out, Catch::Contains("resnet8 on synthetic:1000 (val): 200 images  loss " + val + "  top1 " + val_top1));
    const auto pred = (dir.path() / "pred.csv").string();
    auto s = run_cli("eval resnet8 --weights " + out + "/checkpoint.safetensors --split test --threads 1 --predictions " +
                     pred);
    CHECK(s.exit_code == 0);
    CHECK_THAT(s.out, Catch::Contains("(test): 200 images  loss " + test));
    const std::string csv = slurp(pred);
    CHECK(csv.rfind("index,label,prediction,confidence\n0,", 0) == 0);
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 201);

    // bad input: another net, an unknown split or normalization, a file that is not a checkpoint
    auto bad = run_cli("eval resnet14 --weights " + out + "/checkpoint.safetensors --threads 1");
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("no tensor stage1.block2.conv1.weight"));
    bad = run_cli("eval --weights " + out + "/checkpoint.safetensors --split holdout");
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("--split: expected train, val or test, got 'holdout'"));
    bad = run_cli("eval --weights " + out + "/checkpoint.safetensors --normalize zscore");
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("--normalize: expected checkpoint, dataset, imagenet or none"));
    bad = run_cli("eval resnet8 --weights " + dir.write("junk.safetensors", "not a checkpoint"));
    CHECK(bad.exit_code == 2);
}

TEST_CASE("torchvision's names: the ResNet mapping, export, and weights that load under either name", "[cli][eval]") {
    using deeper::runners::torchvision_name;
    CHECK(torchvision_name("resnet50", "stem.conv.weight") == "conv1.weight");
    CHECK(torchvision_name("resnet50", "stem.bn.running_var") == "bn1.running_var");
    CHECK(torchvision_name("resnet50", "stage3.block1.shortcut.conv.weight") == "layer3.0.downsample.0.weight");
    CHECK(torchvision_name("resnet50", "stage3.block1.shortcut.bn.bias") == "layer3.0.downsample.1.bias");
    CHECK(torchvision_name("resnet50", "stage4.block3.conv3.weight") == "layer4.2.conv3.weight");
    CHECK(torchvision_name("resnet50", "head.fc.bias") == "fc.bias");
    CHECK_FALSE(torchvision_name("resnet20", "head.fc.bias"));  // CIFAR nets: not in torchvision
    CHECK(torchvision_name("mobilenet-v2", "stem.bn.running_mean") == "features.0.1.running_mean");
    CHECK(torchvision_name("mobilenet-v2", "stage1.block1.pw.conv.weight") == "features.1.conv.1.weight");
    CHECK(torchvision_name("mobilenet-v2", "stage3.block2.dw.bn.weight") == "features.5.conv.1.1.weight");
    CHECK(torchvision_name("mobilenet-v2", "stage7.block1.project.bn.bias") == "features.17.conv.3.bias");
    CHECK(torchvision_name("mobilenet-v2", "top.conv.weight") == "features.18.0.weight");
    CHECK(torchvision_name("mobilenet-v2", "head.fc.weight") == "classifier.1.weight");
    CHECK(torchvision_name("efficientnet-b3", "stage1.block1.se.reduce.weight") == "features.1.0.block.1.fc1.weight");
    CHECK(torchvision_name("efficientnet-b3", "stage1.block2.pw.bn.bias") == "features.1.1.block.2.1.bias");
    CHECK(torchvision_name("efficientnet-b3", "stage6.block4.se.expand.bias") == "features.6.3.block.2.fc2.bias");
    CHECK(torchvision_name("efficientnet-b3", "stage6.block4.project.conv.weight") == "features.6.3.block.3.0.weight");
    CHECK(torchvision_name("efficientnet-b3", "top.bn.running_var") == "features.8.1.running_var");
    CHECK_FALSE(torchvision_name("efficientnet", "top.bn.running_var"));  // the scalable one is not torchvision's
    CHECK(torchvision_name("alexnet", "conv4.conv.weight") == "features.8.weight");
    CHECK(torchvision_name("alexnet", "head.fc3.bias") == "classifier.6.bias");
    // vgg11: 64 M 128 M 256 256 M ...; each conv then ReLU (and BN between them in vgg11_bn)
    CHECK(torchvision_name("vgg-a", "stage3.conv2.weight") == "features.8.weight");
    CHECK(torchvision_name("vgg-a", "stage3.conv2.weight", true) == "features.11.weight");
    CHECK(torchvision_name("vgg-a", "stage3.bn2.running_mean", true) == "features.12.running_mean");
    CHECK(torchvision_name("vgg-e", "stage5.conv4.weight") == "features.34.weight");
    CHECK(torchvision_name("vgg-d", "head.fc2.weight") == "classifier.3.weight");
    CHECK_FALSE(torchvision_name("vgg-c", "stage1.conv1.weight"));  // C (1x1 convs) is not in torchvision
    CHECK(torchvision_name("googlenet-tv", "stem.conv2.bn.weight") == "conv2.bn.weight");
    CHECK(torchvision_name("googlenet-tv", "inception4e.branch3_reduce.conv.weight") == "inception4e.branch3.0.conv.weight");
    CHECK(torchvision_name("googlenet-tv", "inception4e.branch3.bn.running_var") == "inception4e.branch3.1.bn.running_var");
    CHECK(torchvision_name("googlenet-tv", "inception5b.branch4.conv.weight") == "inception5b.branch4.1.conv.weight");
    CHECK(torchvision_name("googlenet-tv", "aux2.proj.bn.bias") == "aux2.conv.bn.bias");
    CHECK(torchvision_name("googlenet-tv", "head.fc.weight") == "fc.weight");

    TempDir dir("cli-tv");
    const auto out = (dir.path() / "run").string();
    auto t = run_cli("train resnet18 --resolution 32 --data synthetic:300 --val-size 100 --train-eval-size 50 "
                     "--epochs 1 --batch 50 --threads 1 --out " + out);
    REQUIRE(t.exit_code == 0);
    const auto tv = (dir.path() / "tv.safetensors").string();
    auto x = run_cli("export resnet18 --weights " + out + "/checkpoint.safetensors " + tv);
    INFO(x.out);
    REQUIRE(x.exit_code == 0);
    CHECK_THAT(x.out, Catch::Contains("122 tensors of resnet18"));  // 102 + 20 num_batches_tracked
    const auto file = deeper::runners::read_safetensors(tv);
    for (const char* name : {"conv1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                             "layer4.1.bn2.running_mean", "fc.weight"})
        CHECK(file.tensors.count(name) == 1);
    CHECK(file.tensors.at("bn1.num_batches_tracked").int64);
    CHECK(file.tensors.at("bn1.num_batches_tracked").data == std::vector<float>{4});  // the run's 4 steps
    // The exported file evaluates exactly as deeper's own checkpoint.
    const std::string args = " --data synthetic:300 --val-size 100 --resolution 32 --normalize dataset --threads 1";
    auto mine = run_cli("eval resnet18 --weights " + out + "/checkpoint.safetensors" + args);
    auto theirs = run_cli("eval resnet18 --weights " + tv + args);
    REQUIRE(mine.exit_code == 0);
    REQUIRE(theirs.exit_code == 0);
    CHECK(mine.out == theirs.out);
    auto bad = run_cli("export resnet20 --weights " + out + "/checkpoint.safetensors " + tv);
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("holds weights of resnet18, not resnet20"));
}
