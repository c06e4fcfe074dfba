#pragma once
// Everything a training run is made of, with defaults: the net and its knobs, the data, the
// optimizer and schedule, and where results go. `deeper train` flags and YAML keys use the same
// names (dashes or underscores); to_yaml() is the resolved config saved in the run folder.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nets/knobs.hpp"

namespace deeper::search {

// The largest batch any verb takes; whether a net fits at a given batch is checked against the
// machine's memory before compiling.
inline constexpr int kMaxBatch = 1 << 16;

struct TrainConfig {
    // the net
    std::string net;        // a zoo name, or empty with spec set
    std::string spec;       // a YAML net file
    std::map<std::string, std::string> positions;  // net.NAME settings: the net file's ${NAME} (net_positions.hpp)
    nets::NetOptions knobs;
    // the data
    std::string data = "fashion-mnist";
    int val_size = 5000;    // held out of the training set
    int train_limit = 0;    // > 0: use only this many training images
    double train_fraction = 1;  // < 1: use only this share of the training images (labelled-fraction studies)
    int train_eval_size = 5000;  // training error measured in eval mode on this many
    bool augment = true;
    std::string crop = "pad";  // pad (shifted, CIFAR-style) | resized (RandomResizedCrop, ImageNet-style)
    int crop_pad = 4;
    std::vector<double> crop_scale{0.08, 1.0};        // resized crops: share of the area
    std::vector<double> crop_ratio{3.0 / 4, 4.0 / 3};  // resized crops: width / height
    bool flip = true;
    double eval_crop = 1.0;  // evaluation: the centred square of this share of the shorter side
    int data_threads = 0;    // > 0: batches built ahead on this many threads beside the compute
    int prefetch = 4;        // batches built ahead (with data_threads)
    // the optimization
    int epochs = 10;
    int batch = 128;         // 1 .. kMaxBatch
    std::string optimizer = "sgd";  // sgd | rmsprop
    double lr = 0.1;
    double momentum = 0.9;
    bool nesterov = false;
    double weight_decay = 5e-4;
    bool decay_norm_and_bias = true;
    double rmsprop_decay = 0.9, rmsprop_eps = 1e-3;
    std::string schedule = "cosine";  // constant | step | multistep | cosine | exponential
    int step_size = 30;               // step: epochs between decays
    std::vector<int> milestones;      // multistep: epochs at which lr *= gamma
    double lr_decay = 0.1;            // step/multistep factor; exponential: per-epoch factor
    int warmup_epochs = 0;            // linear warm-up from lr / 10
    double label_smoothing = 0.0;
    // the run
    int threads = 0;
    std::uint64_t seed = 0;
    std::string precision = "f32";
    // off | cached | force: measure each conv's form on this machine when compiling (the
    // runner's tuner; cached: the machine's earlier measurements are reused). A resumed run
    // keeps the plan its checkpoint records.
    std::string tune = "cached";
    std::string out;                  // run folder
    std::string init;                 // checkpoint to start from (transfer learning)
    std::vector<std::string> freeze;  // node-name prefixes, or "encoder"
    std::vector<std::string> init_skip;  // node-name prefixes `init` leaves fresh, or "head"
    std::string normalize = "dataset";    // dataset | imagenet | none (see data::named_normalization)

    std::string to_yaml() const;
};

// Reads a YAML training config; errors carry file:line:column.
TrainConfig load_train_config(const std::string& path);
// The same from text (a checkpoint's recorded config); `name` stands for the file in errors.
TrainConfig parse_train_config(const std::string& yaml_text, const std::string& name);
void set_train_option(TrainConfig& c, const std::string& key, const std::string& value);
// Every option, net knob and position that is set, as key and value text, in a fixed order
// (what to_yaml writes, without YAML's quoting).
std::vector<std::pair<std::string, std::string>> option_texts(const TrainConfig& c);
// Every training option's key (net knobs not included).
const std::vector<std::string>& train_option_names();

// The learning rate at a fractional epoch (warm-up, then the schedule).
double learning_rate(const TrainConfig& c, double epoch);

}  // namespace deeper::search
