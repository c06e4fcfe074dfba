#pragma once
// Turns stored images into the engine's input batches: a seeded validation split, per-channel
// normalization from the training split, bilinear resize to the net's resolution, channel
// replication, and augmentation (pad + random crop, horizontal flip). Every random choice is a
// hash of (seed, epoch, sample), so a batch is the same whatever ran before it: runs replay and
// resume exactly. Batches are built on the caller's (compute) threads between steps; a busy
// loader thread beside oneDNN's OpenMP threads would slow every convolution.
#include <cstdint>
#include <vector>

#include "runners/data/dataset.hpp"

namespace deeper::runners::data {

struct Normalization {
    std::vector<float> mean, std;  // per source channel, on the [0, 1] scale
};
Normalization channel_stats(const Dataset& d, const std::vector<std::uint32_t>& indices);
// By name: "dataset" (channel_stats of the training images), "imagenet" (torchvision's means and
// deviations; a gray set gets their averages) or "none" (pixel / 255). Throws InputError else.
Normalization named_normalization(const std::string& how, const Dataset& d, const std::vector<std::uint32_t>& train);

struct Split {
    std::vector<std::uint32_t> train, val;
};
// How many of n items train: those not held out for validation, at most `limit` (> 0) and at
// most `fraction` of them (rounded, at least one).
std::size_t training_count(std::size_t n, std::size_t val_size, std::size_t limit = 0, double fraction = 1);
// `val_size` items held out for validation, chosen by a seeded shuffle; the first
// training_count() of the rest train (a random subset when limited: quick runs, labelled-fraction
// studies).
Split split(std::size_t n, std::size_t val_size, std::uint64_t seed, std::size_t limit = 0, double fraction = 1);

struct Transform {
    int channels = 1, resolution = 28;
    bool augment = false;
    int pad = 4;       // random crop from the image padded by this much
    bool flip = true;  // random horizontal flip
};

class Loader {
public:
    Loader(const Dataset& d, std::vector<std::uint32_t> indices, Normalization norm, Transform t);

    std::size_t size() const { return indices_.size(); }
    // Batch b of `epoch`: shuffled by (seed, epoch) when shuffle is on. Returns how many items
    // are real; a short last batch is padded by repeating items.
    int fill(std::uint64_t seed, int epoch, std::size_t b, int batch, bool shuffle, float* images,
             std::int32_t* labels) const;
    std::size_t batches(int batch, bool drop_last) const {
        return drop_last ? size() / batch : (size() + batch - 1) / batch;
    }
    const Transform& transform() const { return t_; }

private:
    void render(std::size_t item, std::uint64_t key, float* out) const;
    // The epoch's order, computed when (seed, epoch, shuffle) changes and kept for its batches.
    const std::vector<std::uint32_t>& order(std::uint64_t seed, int epoch, bool shuffle) const;

    const Dataset& d_;
    std::vector<std::uint32_t> indices_;
    Normalization norm_;
    Transform t_;
    mutable std::vector<std::uint32_t> order_;
    mutable std::uint64_t order_seed_ = 0;
    mutable int order_epoch_ = -1;
    mutable bool order_shuffle_ = false;
};

}  // namespace deeper::runners::data
