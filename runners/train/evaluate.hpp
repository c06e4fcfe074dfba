#pragma once
// `deeper eval`: trained weights on one split of a dataset: loss, top-1 and top-5, and
// optionally every image's prediction (index, label, prediction, confidence) in the dataset's
// order. The input is normalized the way the weights were trained (the statistics the
// checkpoint records), or as asked: the dataset's own training statistics, ImageNet's, or none
// (pixel / 255, so an outside tool can feed the same numbers). The inputs and logits can be
// written as .npy files, for running the same images through another runtime.
#include <cstddef>
#include <string>

#include "search/train_config.hpp"

namespace deeper::runners {

struct EvalConfig {
    search::TrainConfig run;      // net, knobs, data, batch, threads, precision; seed and
                                  // val_size for the validation split
    std::string weights;          // a deeper checkpoint (safetensors)
    std::string split = "val";    // train | val | test
    std::string normalize = "checkpoint";  // checkpoint | dataset | imagenet | none
    std::string predictions;      // a CSV to write, or empty
    std::size_t limit = 0;        // > 0: only the split's first `limit` images
    std::string inputs_npy;       // the images as the net saw them (N x C x H x W, normalized), or empty
    std::string logits_npy;       // the net's outputs (N x classes), or empty
};

struct EvalResult {
    std::size_t images = 0;
    double loss = 0, top1 = 0, top5 = 0;
};

EvalResult evaluate_weights(const EvalConfig& c);

}  // namespace deeper::runners
