#include "runners/data/loader.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>

#include "nets/error.hpp"
#include "runners/data/image_decode.hpp"
#include "runners/data/render.hpp"
#include "runners/engine/layout.hpp"

namespace deeper::runners::data {

std::size_t training_count(std::size_t n, std::size_t val_size, std::size_t limit, double fraction) {
    std::size_t count = n - std::min(val_size, n);
    if (fraction < 1) count = std::min(count, std::max<std::size_t>(1, std::size_t(std::llround(fraction * double(count)))));
    if (limit > 0) count = std::min(count, limit);
    return count;
}

Split split(std::size_t n, std::size_t val_size, std::uint64_t seed, std::size_t limit, double fraction) {
    std::vector<std::uint32_t> all(n);
    std::iota(all.begin(), all.end(), 0u);
    std::mt19937_64 rng(seed ^ 0x5EED5EEDull);
    std::shuffle(all.begin(), all.end(), rng);
    Split s;
    val_size = std::min(val_size, n);
    s.val.assign(all.begin(), all.begin() + val_size);
    s.train.assign(all.begin() + val_size, all.end());
    s.train.resize(training_count(n, val_size, limit, fraction));
    // Sorted: the split is a set; the order of each epoch comes from order().
    std::sort(s.val.begin(), s.val.end());
    std::sort(s.train.begin(), s.train.end());
    return s;
}

Crop parse_crop(const std::string& name) {
    if (name == "pad") return Crop::pad;
    if (name == "resized") return Crop::resized;
    throw InputError(fmt::format("crop: expected pad or resized, got '{}'", name));
}

Loader::Loader(const Dataset& d, std::vector<std::uint32_t> indices, Normalization norm, Transform t)
    : d_(d), indices_(std::move(indices)), norm_(std::move(norm)), t_(t) {}

const std::vector<std::uint32_t>& Loader::order(std::uint64_t seed, int epoch, bool shuffle) const {
    if (order_epoch_ == epoch && order_seed_ == seed && order_shuffle_ == shuffle &&
        order_.size() == indices_.size())
        return order_;
    order_.resize(indices_.size());
    std::iota(order_.begin(), order_.end(), 0u);
    if (shuffle) {
        std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + std::uint64_t(epoch) + 1);
        std::shuffle(order_.begin(), order_.end(), rng);
    }
    order_seed_ = seed;
    order_epoch_ = epoch;
    order_shuffle_ = shuffle;
    return order_;
}

// The shorter side a streamed JPEG must keep when decoded at a reduced scale: enough that the
// smallest crop the transform takes still has the net's resolution.
int Loader::decode_side() const {
    const double share = !t_.augment                ? t_.eval_crop
                         : t_.crop == Crop::resized ? std::sqrt(t_.range.scale_min)
                                                    : 1.0;
    return int(std::ceil(t_.resolution / std::max(share, 1e-3)));
}

void Loader::render(std::size_t item, std::uint64_t key, float* out) const {
    const std::uint32_t index = indices_[item];
    Planes src{nullptr, d_.channels, d_.height, d_.width};
    std::vector<std::uint8_t> decoded;
    if (d_.streamed()) {
        try {
            const Image im = decode_image(d_.files[index], decode_side(), d_.max_pixels);
            decoded = to_planes(im);
            src = {decoded.data(), 3, im.height, im.width};
        } catch (const InputError& e) {
            if (!d_.skip_corrupt) throw;
            if (unreadable_.fetch_add(1) == 0) {
                const std::lock_guard lock(unreadable_mutex_);
                first_unreadable_ = e.what();
            }
            decoded.assign(std::size_t(3) * d_.height * d_.width, 0);  // blank at the nominal size
            src = {decoded.data(), 3, d_.height, d_.width};
        }
    } else {
        src.pixels = d_.image(index);
    }
    Box box;
    bool flip = false;
    if (t_.augment) {
        box = t_.crop == Crop::resized ? random_resized_crop(src.width, src.height, t_.range, key)
                                       : shifted_crop(src.width, src.height, t_.pad, key);
        flip = t_.flip && uniform_hash(key, 2) < 0.5f;
    } else {
        box = center_crop(src.width, src.height, t_.eval_crop);
    }
    render_box(src, box, flip, {t_.channels, t_.resolution}, norm_, out);
}

std::string Loader::first_unreadable() const {
    const std::lock_guard lock(unreadable_mutex_);
    return first_unreadable_;
}

int Loader::fill(std::uint64_t seed, int epoch, std::size_t b, int batch, bool shuffle, float* images,
                 std::int32_t* labels, Threads threads) const {
    const auto& o = order(seed, epoch, shuffle);
    const std::size_t first = b * std::size_t(batch);
    const int real = int(std::min<std::size_t>(batch, o.size() - std::min(o.size(), first)));
    const std::size_t per = std::size_t(t_.channels) * t_.resolution * t_.resolution;
    // Nothing may leave an OpenMP region: the error of the batch's first failing item is kept.
    std::exception_ptr error;
    int error_item = batch;
    std::mutex error_mutex;
    auto one = [&](int i) {
        try {
            const std::size_t item = o[(first + std::size_t(i < real ? i : i % std::max(real, 1))) % o.size()];
            const std::uint64_t key =
                seed ^ (std::uint64_t(epoch) << 40) ^ (std::uint64_t(indices_[item]) * 0x9E3779B97F4A7C15ull);
            render(item, key, images + i * per);
            labels[i] = d_.labels[indices_[item]];
        } catch (...) {
            const std::lock_guard lock(error_mutex);
            if (i < error_item) error_item = i, error = std::current_exception();
        }
    };
    if (threads == Threads::tbb) {
        tbb::parallel_for(0, batch, one);
    } else {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < batch; ++i) one(i);
    }
    if (error) std::rethrow_exception(error);
    return real;
}

}  // namespace deeper::runners::data
