#include "runners/train/torchvision_names.hpp"

#include <fmt/format.h>

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

}  // namespace

bool has_torchvision_names(const std::string& net) { return is_imagenet_resnet(net); }

std::optional<std::string> torchvision_name(const std::string& net, const std::string& name) {
    if (is_imagenet_resnet(net)) return resnet_name(name);
    return std::nullopt;
}

const Tensor* find_weights(const SafeTensors& file, const std::string& net, const std::string& name) {
    if (const auto it = file.tensors.find(name); it != file.tensors.end()) return &it->second;
    if (const auto tv = torchvision_name(net, name))
        if (const auto it = file.tensors.find(*tv); it != file.tensors.end()) return &it->second;
    return nullptr;
}

SafeTensors to_torchvision(const SafeTensors& checkpoint, const std::string& net) {
    if (!has_torchvision_names(net))
        throw InputError(fmt::format("export: torchvision has no '{}' (so far: resnet18, resnet34, resnet50, resnet101, "
                                     "resnet152)",
                                     net));
    float steps = 0;
    if (const auto it = checkpoint.metadata.find("step"); it != checkpoint.metadata.end()) steps = std::stof(it->second);
    SafeTensors out;
    for (const auto& [name, t] : checkpoint.tensors) {
        if (name.rfind("optimizer.", 0) == 0) continue;
        const auto tv = torchvision_name(net, name);
        if (!tv) throw InputError(fmt::format("export: {} has no torchvision counterpart in {}", name, net));
        out.tensors[*tv] = t;
        const std::string suffix = ".running_mean";
        if (tv->size() > suffix.size() && tv->compare(tv->size() - suffix.size(), suffix.size(), suffix) == 0)
            out.tensors[tv->substr(0, tv->size() - suffix.size()) + ".num_batches_tracked"] = Tensor{{}, {steps}, true};
    }
    out.metadata = {{"format", "pt"}, {"source", "deeper export --to torchvision"}, {"net", net}};
    return out;
}

}  // namespace deeper::runners
