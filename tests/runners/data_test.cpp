// Datasets and the loader: real Fashion-MNIST, every data error, determinism of batches.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "nets/error.hpp"
#include "runners/data/dataset.hpp"
#include "runners/data/loader.hpp"
#include "support.hpp"

using namespace deeper::runners::data;
using deeper::test::TempDir;

namespace {

std::string idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w, std::size_t data_bytes) {
    std::string s = {0, 0, 8, 3};
    for (std::uint32_t v : {n, h, w})
        for (int k = 3; k >= 0; --k) s += char((v >> (8 * k)) & 0xFF);
    s += std::string(data_bytes, char(7));
    return s;
}

std::string idx_labels(std::uint32_t n, int label) {
    std::string s = {0, 0, 8, 1};
    for (int k = 3; k >= 0; --k) s += char((n >> (8 * k)) & 0xFF);
    s += std::string(n, char(label));
    return s;
}

std::string gzip(const std::string& raw, const std::string& path) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, raw.data(), unsigned(raw.size()));
    gzclose(f);
    return path;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const deeper::InputError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("Debian's Fashion-MNIST reads as 60k + 10k 28x28 images in 10 classes", "[data]") {
    if (!std::filesystem::exists(kFashionMnistDir)) {
        WARN("dataset-fashion-mnist is not installed; scripts/setup.sh installs it");
        return;
    }
    const TrainTest t = load("fashion-mnist");
    CHECK(t.train.size() == 60000);
    CHECK(t.test.size() == 10000);
    CHECK(t.train.height == 28);
    CHECK(t.train.width == 28);
    std::vector<int> count(10, 0);
    for (int l : t.train.labels) ++count[l];
    for (int c : count) CHECK(c == 6000);  // Fashion-MNIST is balanced
}

TEST_CASE("a class filter keeps those classes, relabelled from 0, in train and test", "[data]") {
    const TrainTest all = load("synthetic:500");
    const TrainTest t = load("synthetic:500,classes=5-9");
    CHECK(t.train.classes == 5);
    CHECK(t.test.classes == 5);
    std::size_t expected = 0;
    for (int l : all.train.labels) expected += l >= 5;
    REQUIRE(t.train.size() == expected);
    std::size_t k = 0;
    for (std::size_t i = 0; i < all.train.size(); ++i) {
        if (all.train.labels[i] < 5) continue;
        CHECK(t.train.labels[k] == all.train.labels[i] - 5);
        CHECK(std::equal(t.train.image(k), t.train.image(k) + t.train.image_bytes(), all.train.image(i)));
        ++k;
    }
    CHECK(load("synthetic:classes=3").train.classes == 1);
    auto error = [](const std::string& spec) {
        try {
            load(spec);
        } catch (const deeper::InputError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error("synthetic:classes=4-12") == "data 'synthetic:classes=4-12': classes=4-12 is not a class or a range LO-HI of classes 0-9");
    CHECK(error("synthetic:classes=5-2") == "data 'synthetic:classes=5-2': classes=5-2 is not a class or a range LO-HI of classes 0-9");
    CHECK(error("synthetic:colours=2") == "data 'synthetic:colours=2': unknown option 'colours' (known: classes=LO-HI)");
}

TEST_CASE("train_fraction and train_limit take a random subset of the training split", "[data]") {
    CHECK(training_count(60000, 5000, 0, 0.01) == 550);
    CHECK(training_count(60000, 5000, 300, 0.01) == 300);  // the tighter one wins
    CHECK(training_count(60000, 5000, 0, 1e-9) == 1);      // never empty
    CHECK(training_count(100, 200) == 0);
    const Split s = split(60000, 5000, 7, 0, 0.1);
    CHECK(s.train.size() == 5500);
    CHECK(s.val.size() == 5000);
    CHECK(s.val == split(60000, 5000, 7).val);  // the same validation set at every fraction
}

TEST_CASE("corrupt and truncated data files name the file and the problem", "[data]") {
    TempDir dir("data-errors");
    auto images = dir.write("imgs", idx_images(3, 2, 2, 12));
    auto labels = dir.write("labels", idx_labels(3, 1));
    CHECK(read_idx(images, labels, 10).size() == 3);

    auto truncated = dir.write("trunc", idx_images(3, 2, 2, 10));
    CHECK(error_of([&] { read_idx(truncated, labels, 10); }) ==
          truncated + ": 10 data bytes, but the header's sizes need 12 (truncated)");
    auto bad_magic = dir.write("magic", "\x12\x34\x08\x03" + std::string(20, '\0'));
    CHECK_THAT(error_of([&] { read_idx(bad_magic, labels, 10); }), Catch::Contains("not an IDX file"));
    auto wrong_dims = dir.write("dims", idx_labels(3, 1));
    CHECK_THAT(error_of([&] { read_idx(wrong_dims, labels, 10); }),
               Catch::Contains("IDX file has 1 dimensions, expected 3"));
    auto out_of_range = dir.write("range", idx_labels(3, 12));
    CHECK_THAT(error_of([&] { read_idx(images, out_of_range, 10); }),
               Catch::Contains("label 12 of item 0 is out of range"));
    auto fewer = dir.write("fewer", idx_labels(2, 1));
    CHECK_THAT(error_of([&] { read_idx(images, fewer, 10); }), Catch::Contains("3 images but"));

    // gzip: whole files read, cut ones fail
    auto gz = gzip(idx_images(3, 2, 2, 12), (dir.path() / "imgs.gz").string());
    CHECK(read_idx(gz, labels, 10).size() == 3);
    std::string bytes;
    {
        std::ifstream in(gz, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto cut = dir.write("cut.gz", bytes.substr(0, bytes.size() / 2));
    CHECK_THAT(error_of([&] { read_idx(cut, labels, 10); }), Catch::Contains("cut.gz: corrupt or truncated gzip"));

    CHECK_THAT(error_of([&] { load("fashion-mnist:/nonexistent"); }), Catch::Contains("no such directory"));
    CHECK_THAT(error_of([&] { load("imagenet"); }), Catch::Contains("unknown data 'imagenet'"));
    std::filesystem::create_directories(dir.path() / "cifar");
    dir.write("cifar/data_batch_1.bin", std::string(3073 * 2 + 5, '\0'));
    CHECK_THAT(error_of([&] { load("cifar10:" + (dir.path() / "cifar").string()); }),
               Catch::Contains("is not a whole number of 3073-byte CIFAR records"));
}

TEST_CASE("splits, batches and augmentation are deterministic for a seed", "[data]") {
    const TrainTest t = synthetic(300, 50);
    const Split a = split(t.train.size(), 50, 42), b = split(t.train.size(), 50, 42), c = split(t.train.size(), 50, 43);
    CHECK(a.train == b.train);
    CHECK(a.val == b.val);
    CHECK(a.val != c.val);
    CHECK(a.train.size() + a.val.size() == 300);
    const Normalization n = channel_stats(t.train, a.train);
    Transform tr;
    tr.channels = 3;  // gray replicated to RGB
    tr.resolution = 32;  // bilinear 28 -> 32
    tr.augment = true;
    const Loader l(t.train, a.train, n, tr);
    const std::size_t per = 3 * 32 * 32;
    std::vector<float> x1(8 * per), x2(8 * per), x3(8 * per);
    std::vector<std::int32_t> y1(8), y2(8), y3(8);
    l.fill(7, 2, 1, 8, true, x1.data(), y1.data());
    l.fill(7, 2, 1, 8, true, x2.data(), y2.data());
    l.fill(7, 3, 1, 8, true, x3.data(), y3.data());
    CHECK(x1 == x2);
    CHECK(y1 == y2);
    CHECK(x1 != x3);
    for (std::size_t i = 0; i < 32 * 32; ++i) CHECK(x1[i] == x1[32 * 32 + i]);  // replicated channels
    // Without augmentation, normalized pixels have mean ~0 and std ~1 over the split.
    tr.augment = false;
    tr.channels = 1;
    tr.resolution = 28;
    const Loader plain(t.train, a.train, n, tr);
    std::vector<float> all(250 * 784);
    std::vector<std::int32_t> labels(250);
    plain.fill(7, 0, 0, 250, false, all.data(), labels.data());
    double s = 0, s2 = 0;
    for (float v : all) s += v, s2 += double(v) * v;
    CHECK(s / all.size() == Approx(0).margin(1e-3));
    CHECK(s2 / all.size() == Approx(1).margin(1e-2));
}

TEST_CASE("normalization by name: the dataset's, ImageNet's or none", "[data]") {
    const TrainTest t = synthetic(200, 20);
    const Split s = split(t.train.size(), 50, 1);
    const Normalization own = named_normalization("dataset", t.train, s.train);
    CHECK(own.mean == channel_stats(t.train, s.train).mean);
    const Normalization none = named_normalization("none", t.train, s.train);
    CHECK(none.mean == std::vector<float>{0.f});
    CHECK(none.std == std::vector<float>{1.f});
    const Normalization imagenet = named_normalization("imagenet", t.train, s.train);  // gray: the averages
    CHECK(imagenet.mean[0] == Approx(0.449f));
    CHECK_THROWS_WITH(named_normalization("zscore", t.train, s.train),
                      "normalize: expected dataset, imagenet or none, got 'zscore'");
}
