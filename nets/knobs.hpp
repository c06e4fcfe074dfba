#pragma once
// The knobs a zoo net is built with: explicit, optional (unset = the family's default) and
// printable, in the spirit of libtorch's *Options. The CLI and experiment YAML both set them by
// key, so every knob has one name, used everywhere ("se_ratio", "drop_connect", ...).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deeper::nets {

struct NetOptions {
    std::optional<int> resolution;    // square input side in pixels
    std::optional<int> classes;
    std::optional<int> in_channels;    // 1 for (Fashion-)MNIST, 3 for RGB
    std::optional<double> width;       // channel multiplier
    std::optional<double> depth;       // depth multiplier (EfficientNet-style repeats)
    std::optional<bool> batchnorm;
    std::optional<bool> lrn;
    std::optional<bool> aux;           // GoogLeNet auxiliary classifiers
    std::optional<std::string> head;   // gap | fc
    std::optional<bool> reductions;    // GoogLeNet: 1x1 reductions before the 3x3 and 5x5 convs
    std::optional<std::string> activation;  // AlexNet, VGG: relu | tanh | ...
    std::optional<int> pool_kernel;    // AlexNet: max-pool window, stride 2 (3 overlaps, 2 does not)
    std::optional<std::string> shortcut;  // A (zero-padded identity) | B (projection)
    std::optional<double> se_ratio;
    std::optional<int> fc_width;       // hidden width of VGG/AlexNet classifiers
    std::optional<double> dropout;
    std::optional<double> drop_connect;
    std::optional<bool> zero_init_residual;  // each residual branch's last BN starts at scale 0
    std::optional<double> alpha, beta, gamma, phi;  // EfficientNet compound scaling
};

enum class KnobType { integer, real, flag, text };

struct KnobInfo {
    std::string_view key;
    KnobType type;
    std::string_view help;
};

// Every knob, in a fixed order (the order of columns and of printed specs).
const std::vector<KnobInfo>& knob_infos();

// Calls f(key, std::optional<T>&) for every knob, in knob_infos() order.
template <class Options, class F>
void visit_knobs(Options& o, F&& f) {
    f("resolution", o.resolution);
    f("classes", o.classes);
    f("in_channels", o.in_channels);
    f("width", o.width);
    f("depth", o.depth);
    f("batchnorm", o.batchnorm);
    f("lrn", o.lrn);
    f("aux", o.aux);
    f("head", o.head);
    f("reductions", o.reductions);
    f("activation", o.activation);
    f("pool_kernel", o.pool_kernel);
    f("shortcut", o.shortcut);
    f("se_ratio", o.se_ratio);
    f("fc_width", o.fc_width);
    f("dropout", o.dropout);
    f("drop_connect", o.drop_connect);
    f("zero_init_residual", o.zero_init_residual);
    f("alpha", o.alpha);
    f("beta", o.beta);
    f("gamma", o.gamma);
    f("phi", o.phi);
}

// Sets a knob from text ("0.5", "true", "B"); '-' in keys is read as '_'. Throws InputError
// naming the knob and what it expected; an unknown key suggests the closest known one.
void set_knob(NetOptions& o, std::string_view key, std::string_view value);
std::vector<std::string> set_knob_names(const NetOptions& o);
// Throws InputError "NET does not take the knob 'K'; it takes: ..." for a set knob not in
// `takes`: a knob a net would ignore is refused (a sweep over it would train one net twice).
void refuse_knobs_not_taken(const NetOptions& o, std::string_view net, const std::vector<std::string>& takes);
// "resolution=160,width=0.5": only the knobs that are set.
std::string to_string(const NetOptions& o);

}  // namespace deeper::nets
