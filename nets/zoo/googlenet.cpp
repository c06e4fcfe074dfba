// GoogLeNet / Inception v1 (Szegedy et al. 2015, Table 1): Inception modules with 1x1
// reductions (or without them, for the paper's cost argument), global average pooling (or an
// FC head, for the paper's comparison), optional auxiliary classifiers. "googlenet-tv" is
// torchvision's layout: BN after every conv and a 3x3 kernel in the branch the paper gives 5x5
// (torchvision's known deviation), which is what its published parameter count measures.
#include <fmt/format.h>

#include "nets/blocks.hpp"
#include "nets/builder.hpp"
#include "nets/error.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets::zoo_families {

namespace {

struct InceptionConfig {
    const char* name;
    int c1, c3r, c3, c5r, c5, pool_proj;
};

// Table 1 of the paper; a 3x3/2 max pool follows 3b and 4e.
const InceptionConfig kModules[] = {
    {"3a", 64, 96, 128, 16, 32, 32},     {"3b", 128, 128, 192, 32, 96, 64},
    {"4a", 192, 96, 208, 16, 48, 64},    {"4b", 160, 112, 224, 24, 64, 64},
    {"4c", 128, 128, 256, 24, 64, 64},   {"4d", 112, 144, 288, 32, 64, 64},
    {"4e", 256, 160, 320, 32, 128, 128}, {"5a", 256, 160, 320, 32, 128, 128},
    {"5b", 384, 192, 384, 48, 128, 128},
};

struct Style {
    bool bn;
    int wide_kernel;         // 5 in the paper, 3 in torchvision
    bool reductions = true;  // false: the 3x3 and 5x5 convs see the module's whole input (the
                             // paper's Fig. 2a ablation; the pool branch keeps its projection, so
                             // every module's output width is unchanged)
};

int conv_unit(Builder& b, int x, int out, int k, int stride, const Style& st,
              const std::string& name) {
    auto s = b.scope(name);
    x = b.conv(x, out, k, stride, 1, !st.bn, "conv");
    if (st.bn) x = b.batchnorm(x, "bn", 1e-3f);
    return b.relu(x);
}

int inception(Builder& b, int x, const InceptionConfig& m, const Style& st) {
    auto s = b.scope(fmt::format("inception{}", m.name));
    int b1 = conv_unit(b, x, m.c1, 1, 1, st, "branch1");
    const int in2 = st.reductions ? conv_unit(b, x, m.c3r, 1, 1, st, "branch2_reduce") : x;
    int b2 = conv_unit(b, in2, m.c3, 3, 1, st, "branch2");
    const int in3 = st.reductions ? conv_unit(b, x, m.c5r, 1, 1, st, "branch3_reduce") : x;
    int b3 = conv_unit(b, in3, m.c5, st.wide_kernel, 1, st, "branch3");
    int p = b.max_pool(x, 3, 1, 1, true, "branch4_pool");
    int b4 = conv_unit(b, p, m.pool_proj, 1, 1, st, "branch4");
    return b.concat({b1, b2, b3, b4});
}

void aux_head(Builder& b, int x, const Style& st, int classes, const std::string& name) {
    auto s = b.scope(name);
    x = b.avg_pool(x, 5, 3);
    x = conv_unit(b, x, 128, 1, 1, st, "proj");
    x = b.flatten(x);
    x = b.relu(b.linear(x, 1024, true, "fc1"), "relu1");
    x = b.dropout(x, 0.7f);
    b.mark_output(b.linear(x, classes, true, "fc2"), 0.3f);
}

Graph build_googlenet(const std::string& name, const NetOptions& o, Style st) {
    if (o.batchnorm) st.bn = *o.batchnorm;
    if (o.reductions) st.reductions = *o.reductions;
    const std::string head = o.head.value_or("gap");
    if (head != "gap" && head != "fc")
        throw InputError(fmt::format("{}: head must be gap or fc, got '{}'", name, head));
    const int r = resolution_or(o), classes = classes_or(o);
    Builder b(name, Shape{in_channels_or(o), r, r});
    int x = b.input();
    {
        auto s = b.scope("stem");
        x = conv_unit(b, x, 64, 7, 2, st, "conv1");
        x = b.max_pool(x, 3, 2, 0, true, "pool1");
        if (o.lrn.value_or(false)) x = b.lrn(x, {}, "lrn1");
        x = conv_unit(b, x, 64, 1, 1, st, "conv2");
        x = conv_unit(b, x, 192, 3, 1, st, "conv3");
        if (o.lrn.value_or(false)) x = b.lrn(x, {}, "lrn2");
        x = b.max_pool(x, 3, 2, 0, true, "pool2");
    }
    std::vector<int> aux_taps;
    for (const auto& m : kModules) {
        x = inception(b, x, m, st);
        std::string n = m.name;
        if (n == "4a" || n == "4d") aux_taps.push_back(x);
        if (n == "3b") x = b.max_pool(x, 3, 2, 0, true, "pool3");
        if (n == "4e") x = b.max_pool(x, 2, 2, 0, true, "pool4");
    }
    {
        auto s = b.scope("head");
        x = head == "gap" ? b.global_avg_pool(x) : b.flatten(x);
        double drop = o.dropout.value_or(0.4);
        if (drop > 0) x = b.dropout(x, float(drop));
        b.mark_output(b.linear(x, classes, true, "fc"));
    }
    if (o.aux.value_or(false)) {
        aux_head(b, aux_taps[0], st, classes, "aux1");
        aux_head(b, aux_taps[1], st, classes, "aux2");
    }
    return b.finish();
}

}  // namespace

void add_googlenet(std::vector<ZooEntry>& z) {
    const std::vector<std::string> knobs = {"resolution", "classes", "in_channels", "aux",        "head",
                                            "batchnorm",  "lrn",     "dropout",     "reductions"};
    z.push_back({"googlenet",
                 {"inception-v1"},
                 "GoogLeNet (Inception v1) as in the paper: 5x5 branches, conv biases",
                 knobs,
                 [](const NetOptions& o) { return build_googlenet("googlenet", o, {false, 5}); }});
    z.push_back({"googlenet-tv",
                 {},
                 "GoogLeNet in torchvision's layout: BN, 3x3 in the '5x5' branch",
                 knobs,
                 [](const NetOptions& o) { return build_googlenet("googlenet-tv", o, {true, 3}); }});
}

}  // namespace deeper::nets::zoo_families
