#pragma once
// Image datasets as stored: 8-bit images N x C x H x W and integer labels. Readers for the
// IDX files of MNIST / Fashion-MNIST (gzipped or not), the CIFAR-10/100 binary batches, and a
// synthetic set for tests. Corrupt or truncated files throw InputError naming the file.
#include <cstdint>
#include <string>
#include <vector>

#include "runners/data/image_decode.hpp"

namespace deeper::runners::data {

struct Dataset {
    std::string name;
    int channels = 1, height = 0, width = 0, classes = 0;
    std::vector<std::uint8_t> images;  // N x C x H x W
    std::vector<std::int32_t> labels;
    // A streamed set (image folders too big to decode into memory): the files, decoded when a
    // batch needs them; `images` stays empty and height x width is only the nominal size.
    std::vector<std::string> files;
    bool skip_corrupt = false;  // streamed: a file found unreadable mid-run trains as a blank image
    std::uint64_t max_pixels = kMaxImagePixels;  // image files: the ceiling on one image's pixels

    std::size_t size() const { return labels.size(); }
    bool streamed() const { return !files.empty(); }
    std::size_t image_bytes() const { return std::size_t(channels) * height * width; }
    const std::uint8_t* image(std::size_t i) const { return images.data() + i * image_bytes(); }
};

struct TrainTest {
    Dataset train, test;
    Dataset val;  // a validation set of its own (image folders' val/); empty: held out of train
    std::vector<std::string> skipped;  // unreadable files left out, each "path: why"
    bool has_val() const { return val.size() > 0; }
};

// A whole file, gunzipped when it starts with the gzip magic.
std::vector<std::uint8_t> read_maybe_gzipped(const std::string& path);

Dataset read_idx(const std::string& images_path, const std::string& labels_path, int classes);

// Data by spec: "fashion-mnist" (Debian's dataset-fashion-mnist), "fashion-mnist:DIR",
// "folder:DIR[,size=N][,cache=auto|true|false][,skip_corrupt=true]" (image_folder.hpp),
// "mnist:DIR", "cifar10:DIR", "cifar100:DIR", "synthetic" or "synthetic:N"; options after the
// colon, comma-separated: "classes=LO-HI" keeps those classes, relabelled from 0
// ("fashion-mnist:classes=5-9", "cifar10:DIR,classes=0-4").
TrainTest load(const std::string& spec);

// Where Debian's dataset-fashion-mnist puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Ten classes of simple 1x28x28 patterns with noise: learnable, made in memory.
TrainTest synthetic(std::size_t train_size, std::size_t test_size, std::uint64_t seed = 1);

}  // namespace deeper::runners::data
