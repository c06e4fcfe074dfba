// VGG A-E (Simonyan & Zisserman 2015, Table 1) as layer lists, plus B-5x5: B with each pair of
// 3x3 convs replaced by one 5x5, the paper's shallow ablation.
#include "nets/blocks.hpp"
#include "nets/vgg_style.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets::zoo_families {

namespace {

struct VggConfig {
    const char* name;
    const char* alias;
    const char* summary;
    std::vector<std::string> layers;
};

const std::vector<VggConfig>& configs() {
    static const std::vector<VggConfig> c = {
        {"vgg-a", "vgg11", "VGG A, 11 layers (8 conv + 3 FC)",
         {"64", "M", "128", "M", "256", "256", "M", "512", "512", "M", "512", "512", "M"}},
        {"vgg-a-lrn", "", "VGG A with LRN after the first conv",
         {"64", "LRN", "M", "128", "M", "256", "256", "M", "512", "512", "M", "512", "512", "M"}},
        {"vgg-b", "vgg13", "VGG B, 13 layers",
         {"64", "64", "M", "128", "128", "M", "256", "256", "M", "512", "512", "M", "512", "512",
          "M"}},
        {"vgg-c", "", "VGG C, 16 layers: B + a 1x1 conv at the end of stages 3-5",
         {"64", "64", "M", "128", "128", "M", "256", "256", "conv1-256", "M", "512", "512",
          "conv1-512", "M", "512", "512", "conv1-512", "M"}},
        {"vgg-d", "vgg16", "VGG D, 16 layers",
         {"64", "64", "M", "128", "128", "M", "256", "256", "256", "M", "512", "512", "512", "M",
          "512", "512", "512", "M"}},
        {"vgg-e", "vgg19", "VGG E, 19 layers",
         {"64", "64", "M", "128", "128", "M", "256", "256", "256", "256", "M", "512", "512", "512",
          "512", "M", "512", "512", "512", "512", "M"}},
        {"vgg-b-5x5", "", "VGG B with each pair of 3x3 convs replaced by one 5x5 (shallow ablation)",
         {"conv5-64", "M", "conv5-128", "M", "conv5-256", "M", "conv5-512", "M", "conv5-512",
          "M"}},
    };
    return c;
}

}  // namespace

void add_vgg(std::vector<ZooEntry>& z) {
    for (const auto& c : configs()) {
        ZooEntry e;
        e.name = c.name;
        if (*c.alias) e.aliases = {c.alias};
        e.summary = c.summary;
        e.knobs = {"resolution", "classes", "in_channels", "batchnorm", "width", "fc_width",
                   "dropout", "activation"};
        e.build = [layers = c.layers, name = e.name](const NetOptions& o) {
            VggNetDef d;
            d.name = name;
            d.layers = layers;
            d.batchnorm = o.batchnorm.value_or(false);
            d.activation = activation_knob(o, name);
            int fc = o.fc_width.value_or(4096);
            d.hidden = {fc, fc};
            d.dropout = o.dropout.value_or(0.5);
            d.width = o.width.value_or(1.0);
            d.resolution = resolution_or(o);
            d.classes = classes_or(o);
            d.in_channels = in_channels_or(o);
            return build_vgg_net(d);
        };
        z.push_back(std::move(e));
    }
}

}  // namespace deeper::nets::zoo_families
