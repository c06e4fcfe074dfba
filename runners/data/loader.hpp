#pragma once
// Turns stored images into the engine's input batches: a seeded validation split, a crop box per
// sample (crop_box.hpp), resampling to the net's resolution with normalization (render.hpp).
// Every random choice is a hash of (seed, epoch, sample), so a batch is the same whatever ran
// before it and whichever threads built it: runs replay and resume exactly. fill() builds a
// batch on the caller's threads; batch_stream.hpp builds them ahead on threads of their own.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "runners/data/crop_box.hpp"
#include "runners/data/dataset.hpp"
#include "runners/data/normalization.hpp"

namespace deeper::runners::data {

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

enum class Crop {
    pad,      // the image padded by `pad` and randomly shifted (CIFAR-style)
    resized,  // RandomResizedCrop (ImageNet-style)
};
// "pad" or "resized"; throws InputError otherwise.
Crop parse_crop(const std::string& name);

struct Transform {
    int channels = 1, resolution = 28;
    bool augment = false;  // random crops and flips (training); off: the centre crop
    Crop crop = Crop::pad;
    int pad = 4;  // pad crops: shift range in source pixels
    ResizedCropRange range;  // resized crops
    bool flip = true;        // random horizontal flip
    double eval_crop = 1.0;  // without augmentation: the centred square of this share of the shorter side
};

// Which threads build a batch's samples.
enum class Threads { openmp, tbb };

class Loader {
public:
    Loader(const Dataset& d, std::vector<std::uint32_t> indices, Normalization norm, Transform t);

    std::size_t size() const { return indices_.size(); }
    std::size_t batches(int batch, bool drop_last) const {
        return drop_last ? size() / batch : (size() + batch - 1) / batch;
    }
    const Transform& transform() const { return t_; }

    // The items in the order of `epoch`: shuffled by (seed, epoch) when shuffle is on. Computed
    // when (seed, epoch, shuffle) changes; call once before building batches concurrently.
    const std::vector<std::uint32_t>& order(std::uint64_t seed, int epoch, bool shuffle) const;
    // Batch b of that order into images/labels. Returns how many items are real; a short last
    // batch is padded by repeating items. Throws InputError for a file that cannot be decoded
    // (unless its set skips them: see unreadable()).
    int fill(std::uint64_t seed, int epoch, std::size_t b, int batch, bool shuffle, float* images,
             std::int32_t* labels, Threads threads = Threads::openmp) const;

    // Streamed files found unreadable mid-run and rendered blank (a set with skip_corrupt).
    std::size_t unreadable() const { return unreadable_.load(); }
    std::string first_unreadable() const;

private:
    void render(std::size_t item, std::uint64_t key, float* out) const;
    int decode_side() const;

    const Dataset& d_;
    std::vector<std::uint32_t> indices_;
    Normalization norm_;
    Transform t_;
    mutable std::vector<std::uint32_t> order_;
    mutable std::uint64_t order_seed_ = 0;
    mutable int order_epoch_ = -1;
    mutable bool order_shuffle_ = false;
    mutable std::atomic<std::size_t> unreadable_{0};
    mutable std::mutex unreadable_mutex_;
    mutable std::string first_unreadable_;
};

}  // namespace deeper::runners::data
