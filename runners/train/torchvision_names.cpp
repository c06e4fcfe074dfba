#include "runners/train/torchvision_names.hpp"

#include <fmt/format.h>

#include <map>
#include <regex>

#include "nets/error.hpp"

namespace deeper::runners {

namespace {

bool is_imagenet_resnet(const std::string& net) {
    return net == "resnet18" || net == "resnet34" || net == "resnet50" || net == "resnet101" || net == "resnet152";
}

// deeper: stem.{conv,bn}, stageS.blockB.{convK,bnK,shortcut.{conv,bn}}, head.fc.
// torchvision: conv1, bn1, layerS.(B-1).{convK,bnK,downsample.{0,1}}, fc.
std::optional<std::string> resnet_name(const std::string& name) {
    static const std::regex stem(R"(stem\.(conv|bn)\.(\w+))"), head(R"(head\.fc\.(\w+))"),
        block(R"(stage(\d+)\.block(\d+)\.(conv\d|bn\d|shortcut\.conv|shortcut\.bn)\.(\w+))");
    std::smatch m;
    if (std::regex_match(name, m, stem)) return fmt::format("{}1.{}", m[1].str(), m[2].str());
    if (std::regex_match(name, m, head)) return "fc." + m[1].str();
    if (std::regex_match(name, m, block)) {
        std::string part = m[3].str();
        if (part == "shortcut.conv") part = "downsample.0";
        if (part == "shortcut.bn") part = "downsample.1";
        return fmt::format("layer{}.{}.{}.{}", m[1].str(), std::stoi(m[2].str()) - 1, part, m[4].str());
    }
    return std::nullopt;
}

// deeper: stem, stageS.blockB.{expand,dw,project}.{conv,bn} (stage 1: dw, pw), top, head.fc.
// torchvision: features.0.{0,1}; features.F.conv.* with F counting blocks from 1 (expand: 0.0 /
// 0.1, depthwise: 1.0 / 1.1, projection: 2 / 3; the first block, which does not expand: 0.0 /
// 0.1 and 1 / 2); features.18.{0,1}; classifier.1.
std::optional<std::string> mobilenet_v2_name(const std::string& name) {
    static const int repeats[] = {1, 2, 3, 4, 3, 3, 1};  // blocks per stage (Sandler et al., Table 2)
    static const std::regex ends(R"((stem|top)\.(conv|bn)\.(\w+))"), head(R"(head\.fc\.(\w+))"),
        block(R"(stage(\d)\.block(\d+)\.(expand|dw|project|pw)\.(conv|bn)\.(\w+))");
    std::smatch m;
    if (std::regex_match(name, m, ends))
        return fmt::format("features.{}.{}.{}", m[1] == "stem" ? 0 : 18, m[2] == "conv" ? 0 : 1, m[3].str());
    if (std::regex_match(name, m, head)) return "classifier.1." + m[1].str();
    if (!std::regex_match(name, m, block)) return std::nullopt;
    const int stage = std::stoi(m[1].str()), b = std::stoi(m[2].str());
    if (stage < 1 || stage > 7) return std::nullopt;
    int f = b;
    for (int s = 1; s < stage; ++s) f += repeats[s - 1];
    const std::string part = m[3].str();
    const bool bn = m[4] == "bn";
    std::string where;
    if (part == "expand") where = bn ? "0.1" : "0.0";
    else if (part == "dw") where = stage == 1 ? (bn ? "0.1" : "0.0") : (bn ? "1.1" : "1.0");
    else if (part == "pw") where = bn ? "2" : "1";  // the first block's projection
    else where = bn ? "3" : "2";
    return fmt::format("features.{}.conv.{}.{}", f, where, m[5].str());
}

// deeper: convK.conv, head.fcK. torchvision: features.{0,3,6,8,10} (after each conv its ReLU,
// after the first, second and fifth a pool), classifier.{1,4,6} (dropouts and ReLUs between).
std::optional<std::string> alexnet_name(const std::string& name) {
    static const std::regex conv(R"(conv([1-5])\.conv\.(\w+))"), fc(R"(head\.fc([1-3])\.(\w+))");
    static const int features[] = {0, 3, 6, 8, 10}, classifier[] = {1, 4, 6};
    std::smatch m;
    if (std::regex_match(name, m, conv)) return fmt::format("features.{}.{}", features[std::stoi(m[1].str()) - 1], m[2].str());
    if (std::regex_match(name, m, fc)) return fmt::format("classifier.{}.{}", classifier[std::stoi(m[1].str()) - 1], m[2].str());
    return std::nullopt;
}

// Convs per stage of the VGG configurations torchvision has (vgg11, 13, 16, 19).
const std::vector<int>* vgg_stages(const std::string& net) {
    static const std::map<std::string, std::vector<int>> stages = {
        {"vgg-a", {1, 1, 2, 2, 2}}, {"vgg-b", {2, 2, 2, 2, 2}}, {"vgg-d", {2, 2, 3, 3, 3}}, {"vgg-e", {2, 2, 4, 4, 4}}};
    const auto it = stages.find(net);
    return it == stages.end() ? nullptr : &it->second;
}

// torchvision's features index of stage s's k-th conv: each conv is followed by its BN (when
// there is one) and ReLU, each stage by a pool.
int vgg_conv_index(const std::vector<int>& stages, int s, int k, bool batchnorm) {
    const int per = batchnorm ? 3 : 2;
    int index = 0;
    for (int t = 1; t < s; ++t) index += stages[std::size_t(t - 1)] * per + 1;
    return index + (k - 1) * per;
}

// deeper: stageS.convK, stageS.bnK, head.fcK. torchvision: features.I (above), classifier.{0,3,6}.
std::optional<std::string> vgg_name(const std::vector<int>& stages, const std::string& name, bool batchnorm) {
    static const std::regex layer(R"(stage([1-5])\.(conv|bn)(\d+)\.(\w+))"), fc(R"(head\.fc([1-3])\.(\w+))");
    static const int classifier[] = {0, 3, 6};
    std::smatch m;
    if (std::regex_match(name, m, fc)) return fmt::format("classifier.{}.{}", classifier[std::stoi(m[1].str()) - 1], m[2].str());
    if (!std::regex_match(name, m, layer)) return std::nullopt;
    const int s = std::stoi(m[1].str()), k = std::stoi(m[3].str());
    if (k > stages[std::size_t(s - 1)]) return std::nullopt;
    return fmt::format("features.{}.{}", vgg_conv_index(stages, s, k, batchnorm) + (m[2] == "bn" ? 1 : 0), m[4].str());
}

// deeper: stem.convK, inceptionX.{branch1, branch2_reduce, branch2, branch3_reduce, branch3,
// branch4}, auxK.{proj, fc1, fc2}, head.fc. torchvision: convK, inceptionX.{branch1, branch2.0,
// branch2.1, branch3.0, branch3.1, branch4.1}, auxK.{conv, fc1, fc2}, fc.
std::optional<std::string> googlenet_name(const std::string& name) {
    static const std::regex stem(R"(stem\.(conv[1-3]\.\w+\.\w+))"), head(R"(head\.fc\.(\w+))"),
        aux(R"((aux[12])\.(proj|fc1|fc2)\.(.+))"),
        branch(R"((inception\w+)\.(branch[1-4])(_reduce)?\.(\w+\.\w+))");
    std::smatch m;
    if (std::regex_match(name, m, stem)) return m[1].str();
    if (std::regex_match(name, m, head)) return "fc." + m[1].str();
    if (std::regex_match(name, m, aux)) return fmt::format("{}.{}.{}", m[1].str(), m[2] == "proj" ? "conv" : m[2].str(), m[3].str());
    if (!std::regex_match(name, m, branch)) return std::nullopt;
    const std::string b = m[2].str();
    if (b == "branch1") return fmt::format("{}.branch1.{}", m[1].str(), m[4].str());
    if (b == "branch4") return fmt::format("{}.branch4.1.{}", m[1].str(), m[4].str());
    return fmt::format("{}.{}.{}.{}", m[1].str(), b, m[3].matched ? 0 : 1, m[4].str());
}

bool has_running_stats(const SafeTensors& file) {
    for (const auto& [name, t] : file.tensors)
        if (name.find("running_mean") != std::string::npos) return true;
    return false;
}

bool is_released_efficientnet(const std::string& net) {
    return net.size() == 15 && net.rfind("efficientnet-b", 0) == 0 && net[14] >= '0' && net[14] <= '7';
}

// deeper: stem, stageS.blockB.{expand,dw,se.{reduce,expand},project|pw}, top, head.fc.
// torchvision: features.0.{0,1}; features.S.(B-1).block.K with K counting the block's parts
// (expand, depthwise, squeeze-excitation fc1/fc2, projection; stage 1 does not expand);
// features.8.{0,1}; classifier.1.
std::optional<std::string> efficientnet_name(const std::string& name) {
    static const std::regex ends(R"((stem|top)\.(conv|bn)\.(\w+))"), head(R"(head\.fc\.(\w+))"),
        block(R"(stage(\d)\.block(\d+)\.(expand|dw|project|pw)\.(conv|bn)\.(\w+))"),
        se(R"(stage(\d)\.block(\d+)\.se\.(reduce|expand)\.(\w+))");
    std::smatch m;
    if (std::regex_match(name, m, ends))
        return fmt::format("features.{}.{}.{}", m[1] == "stem" ? 0 : 8, m[2] == "conv" ? 0 : 1, m[3].str());
    if (std::regex_match(name, m, head)) return "classifier.1." + m[1].str();
    const bool first_stage = name.rfind("stage1.", 0) == 0;  // no expansion: every part one earlier
    if (std::regex_match(name, m, se))
        return fmt::format("features.{}.{}.block.{}.{}.{}", m[1].str(), std::stoi(m[2].str()) - 1, first_stage ? 1 : 2,
                           m[3] == "reduce" ? "fc1" : "fc2", m[4].str());
    if (!std::regex_match(name, m, block)) return std::nullopt;
    const std::string part = m[3].str();
    const int k = part == "expand" ? 0 : part == "dw" ? 1 : 3;
    return fmt::format("features.{}.{}.block.{}.{}.{}", m[1].str(), std::stoi(m[2].str()) - 1, first_stage ? k - 1 : k,
                       m[4] == "conv" ? 0 : 1, m[5].str());
}

}  // namespace

bool has_torchvision_names(const std::string& net) {
    return is_imagenet_resnet(net) || net == "mobilenet-v2" || is_released_efficientnet(net) || net == "alexnet" ||
           vgg_stages(net) || net == "googlenet-tv";
}

std::optional<std::string> torchvision_name(const std::string& net, const std::string& name, bool batchnorm) {
    if (is_imagenet_resnet(net)) return resnet_name(name);
    if (net == "mobilenet-v2") return mobilenet_v2_name(name);
    if (is_released_efficientnet(net)) return efficientnet_name(name);
    if (net == "alexnet") return alexnet_name(name);
    if (const auto* stages = vgg_stages(net)) return vgg_name(*stages, name, batchnorm);
    if (net == "googlenet-tv") return googlenet_name(name);
    return std::nullopt;
}

std::optional<Tensor> find_weights(const SafeTensors& file, const std::string& net, const std::string& name,
                                   std::set<std::string>* used) {
    auto note = [&](const std::string& key) {
        if (used) used->insert(key);
    };
    if (const auto it = file.tensors.find(name); it != file.tensors.end()) {
        note(name);
        return it->second;
    }
    const bool batchnorm = has_running_stats(file);
    const auto tv = torchvision_name(net, name, batchnorm);
    if (!tv) return std::nullopt;
    const auto it = file.tensors.find(*tv);
    if (it == file.tensors.end()) return std::nullopt;
    note(*tv);
    Tensor t = it->second;
    // torchvision's VGG with BN keeps a conv bias, which the BN that follows cancels in
    // training; at inference BN subtracts its running mean from (conv + bias), so the bias moves
    // into the mean here: exact.
    const std::string suffix = ".running_mean";
    if (vgg_stages(net) && batchnorm && tv->ends_with(suffix)) {
        const std::string bn = tv->substr(0, tv->size() - suffix.size());
        const int conv_index = std::stoi(bn.substr(bn.rfind('.') + 1)) - 1;
        if (const auto bias = file.tensors.find(fmt::format("features.{}.bias", conv_index));
            bias != file.tensors.end() && bias->second.data.size() == t.data.size()) {
            for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] -= bias->second.data[i];
            note(bias->first);
        }
    }
    return t;
}

std::vector<std::string> unused_tensors(const SafeTensors& file, const std::set<std::string>& used) {
    std::vector<std::string> out;
    for (const auto& [name, t] : file.tensors)
        if (!used.count(name) && name.rfind("optimizer.", 0) != 0 && !name.ends_with("num_batches_tracked"))
            out.push_back(name);
    return out;
}

SafeTensors to_torchvision(const SafeTensors& checkpoint, const std::string& net) {
    if (!has_torchvision_names(net))
        throw InputError(fmt::format("export: torchvision has no '{}' (so far: resnet18, resnet34, resnet50, resnet101, "
                                     "resnet152, mobilenet-v2, efficientnet-b0 to b7, alexnet, vgg-a/b/d/e, googlenet-tv)",
                                     net));
    float steps = 0;
    if (const auto it = checkpoint.metadata.find("step"); it != checkpoint.metadata.end()) steps = std::stof(it->second);
    const bool batchnorm = has_running_stats(checkpoint);
    SafeTensors out;
    for (const auto& [name, t] : checkpoint.tensors) {
        if (name.rfind("optimizer.", 0) == 0) continue;
        const auto tv = torchvision_name(net, name, batchnorm);
        if (!tv) throw InputError(fmt::format("export: {} has no torchvision counterpart in {}", name, net));
        out.tensors[*tv] = t;
        const std::string suffix = ".running_mean";
        if (tv->ends_with(suffix))
            out.tensors[tv->substr(0, tv->size() - suffix.size()) + ".num_batches_tracked"] = Tensor{{}, {steps}, true};
        // torchvision's VGG-BN convs have a bias (see find_weights); deeper's: zero
        if (vgg_stages(net) && batchnorm && tv->rfind("features.", 0) == 0 && t.shape.size() == 4)
            out.tensors[tv->substr(0, tv->size() - 7) + ".bias"] =
                Tensor{{t.shape[0]}, std::vector<float>(std::size_t(t.shape[0]), 0.f), false};
    }
    out.metadata = {{"format", "pt"}, {"source", "deeper export --to torchvision"}, {"net", net}};
    return out;
}

}  // namespace deeper::runners
