// The input pipeline's pieces: crop boxes (torchvision's RandomResizedCrop and CenterCrop),
// resampling a box to the net's input, batches built ahead by the oneTBB stream (the same bits as
// inline), and image folders streamed from their files.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <tuple>

#include "nets/error.hpp"
#include "runners/data/batch_stream.hpp"
#include "runners/data/crop_box.hpp"
#include "runners/data/dataset.hpp"
#include "runners/data/loader.hpp"
#include "runners/data/render.hpp"
#include "runners/engine/layout.hpp"
#include "support.hpp"
#include "support/image_files.hpp"

using namespace deeper::runners::data;
using deeper::test::TempDir;

TEST_CASE("RandomResizedCrop boxes: inside the image, in the area and ratio range, one per key", "[data][augment]") {
    const ResizedCropRange range;  // scale 0.08-1, ratio 3/4-4/3
    int fell_back = 0;
    for (std::uint64_t key = 0; key < 2000; ++key) {
        const Box b = random_resized_crop(500, 375, range, key);
        REQUIRE(b.x >= 0);
        REQUIRE(b.y >= 0);
        REQUIRE(b.x + b.w <= 500);
        REQUIRE(b.y + b.h <= 375);
        const double area = double(b.w) * b.h / (500.0 * 375), ratio = double(b.w) / b.h;
        if (b.w == 375 && b.h == 375) ++fell_back;  // no try fitted: the centred crop
        else {
            REQUIRE(area >= 0.08 - 0.01);
            REQUIRE(area <= 1.0 + 0.01);
            REQUIRE(ratio >= 0.75 - 0.02);
            REQUIRE(ratio <= 4.0 / 3 + 0.02);
        }
        const Box again = random_resized_crop(500, 375, range, key);
        REQUIRE((again.x == b.x && again.y == b.y && again.w == b.w && again.h == b.h));
    }
    CHECK(fell_back < 20);
    // A strip no try can fit falls back to the whole height at the widest allowed ratio, centred.
    const Box strip = random_resized_crop(1000, 10, range, 7);
    CHECK(strip.h == 10);
    CHECK(strip.w == 13);
    CHECK(strip.x == (1000 - 13) / 2);
    CHECK(strip.y == 0);
}

TEST_CASE("centre and shifted crops", "[data][augment]") {
    // torchvision: Resize(256) + CenterCrop(224) of a 500 x 375 photo keeps 328 source pixels
    const Box c = center_crop(500, 375, 0.875);
    CHECK(c.w == 328);
    CHECK(c.h == 328);
    CHECK(c.x == 86);
    CHECK(c.y == 24);  // (375 - 328) / 2 = 23.5, rounded half to even as Python does
    const Box whole = center_crop(28, 28, 1.0);
    CHECK((whole.x == 0 && whole.y == 0 && whole.w == 28 && whole.h == 28));
    std::set<int> shifts;
    for (std::uint64_t key = 0; key < 500; ++key) {
        const Box s = shifted_crop(28, 28, 4, key);
        REQUIRE((s.w == 28 && s.h == 28));
        REQUIRE(std::abs(s.x) <= 4);
        REQUIRE(std::abs(s.y) <= 4);
        shifts.insert(s.x);
    }
    CHECK(shifts.size() == 9);
}

namespace {

// The bilinear resize of the loader before boxes existed (pad crops, align_corners=False), kept
// here so that runs made then still replay the same inputs.
float old_bilinear(const std::vector<std::uint8_t>& img, int H, int W, int R, int dy, int dx, bool flip, int y, int x) {
    auto at = [&](int yy, int xx) -> float {
        int sx = flip ? W - 1 - xx : xx;
        const int sy = yy + dy;
        sx += dx;
        if (sy < 0 || sy >= H || sx < 0 || sx >= W) return 0.f;
        return img[std::size_t(sy) * W + sx];
    };
    const float sy_scale = float(H) / R, sx_scale = float(W) / R;
    const float fy = std::max(0.f, (y + 0.5f) * sy_scale - 0.5f), fx = std::max(0.f, (x + 0.5f) * sx_scale - 0.5f);
    const int y0 = std::min(int(fy), H - 1), x0 = std::min(int(fx), W - 1);
    const int y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
    const float wy = fy - y0, wx = fx - x0;
    return (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
}

}  // namespace

TEST_CASE("a box resampled: exact at its own size, the old bilinear when enlarging, the area mean when shrinking",
          "[data][augment]") {
    std::vector<std::uint8_t> img(28 * 28);
    for (std::size_t i = 0; i < img.size(); ++i) img[i] = std::uint8_t((i * 37 + i / 28 * 11) % 256);
    const Planes src{img.data(), 1, 28, 28};
    const Normalization none{{0.f}, {1.f}};
    std::vector<float> out(32 * 32);
    render_box(src, {0, 0, 28, 28}, false, {1, 28}, none, out.data());
    for (int i = 0; i < 28 * 28; ++i) REQUIRE(out[std::size_t(i)] == img[std::size_t(i)] / 255.f);

    for (const auto& [dy, dx, flip] : {std::tuple{0, 0, false}, {-3, 4, false}, {2, -4, true}}) {
        render_box(src, {dx, dy, 28, 28}, flip, {1, 32}, none, out.data());
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x)
                REQUIRE(out[std::size_t(y) * 32 + x] ==
                        Approx(old_bilinear(img, 28, 28, 32, dy, dx, flip, y, x) / 255.f).margin(1e-6));
    }
    // Halving: each output the mean of its 2 x 2 source block; gray replicated to RGB, normalized.
    const Normalization n{{0.5f}, {0.25f}};
    std::vector<float> rgb(3 * 14 * 14);
    render_box(src, {0, 0, 28, 28}, false, {3, 14}, n, rgb.data());
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 14; ++y)
            for (int x = 0; x < 14; ++x) {
                const float mean = (img[(2 * y) * 28 + 2 * x] + img[(2 * y) * 28 + 2 * x + 1] +
                                    img[(2 * y + 1) * 28 + 2 * x] + img[(2 * y + 1) * 28 + 2 * x + 1]) / 4.f;
                REQUIRE(rgb[(std::size_t(c) * 14 + y) * 14 + x] == Approx((mean / 255.f - 0.5f) / 0.25f).margin(1e-5));
            }
}

namespace {

// Every batch of one pass, as built by a stream with these threads.
std::vector<float> whole_pass(const Loader& l, PassOptions o, std::vector<std::int32_t>& labels, std::vector<int>& reals) {
    const std::size_t per = std::size_t(l.transform().channels) * l.transform().resolution * l.transform().resolution;
    std::vector<float> images;
    std::vector<float> batch(per * std::size_t(o.batch));
    std::vector<std::int32_t> batch_labels(std::size_t(o.batch));
    BatchStream s(l, o);
    while (!s.done()) {
        reals.push_back(s.next(batch.data(), batch_labels.data()));
        images.insert(images.end(), batch.begin(), batch.end());
        labels.insert(labels.end(), batch_labels.begin(), batch_labels.end());
    }
    return images;
}

}  // namespace

TEST_CASE("batches built ahead by the stream are the inline ones, bit for bit", "[data][stream]") {
    const TrainTest t = synthetic(500, 50);
    const Split s = split(t.train.size(), 100, 3);
    Transform tr;
    tr.channels = 3;
    tr.resolution = 32;
    tr.augment = true;
    for (const Crop crop : {Crop::pad, Crop::resized}) {
        tr.crop = crop;
        const Loader l(t.train, s.train, channel_stats(t.train, s.train), tr);
        PassOptions o;
        o.seed = 11;
        o.epoch = 2;
        o.shuffle = true;
        o.batch = 32;
        o.first = 3;  // resumed mid-epoch
        o.end = l.batches(32, false);  // the last batch is short
        std::vector<std::int32_t> inline_labels, ahead_labels;
        std::vector<int> inline_real, ahead_real;
        const auto inline_images = whole_pass(l, o, inline_labels, inline_real);
        for (const auto& [threads, depth] : {std::pair{1, 1}, {2, 3}, {3, 8}}) {
            o.threads = threads;
            o.depth = depth;
            ahead_labels.clear();
            ahead_real.clear();
            const auto ahead_images = whole_pass(l, o, ahead_labels, ahead_real);
            CHECK(ahead_images == inline_images);
            CHECK(ahead_labels == inline_labels);
            CHECK(ahead_real == inline_real);
        }
        o.threads = 0;
        CHECK(inline_real.back() == int(400 % 32));
    }
}

TEST_CASE("a stream stopped early leaves nothing running; next() past the end is refused", "[data][stream]") {
    const TrainTest t = synthetic(300, 10);
    std::vector<std::uint32_t> all(300);
    std::iota(all.begin(), all.end(), 0u);
    Transform tr;
    const Loader l(t.train, all, channel_stats(t.train, all), tr);
    PassOptions o;
    o.batch = 10;
    o.end = 30;
    o.threads = 2;
    o.depth = 4;
    std::vector<float> images(28 * 28 * 10);
    std::vector<std::int32_t> labels(10);
    {
        BatchStream s(l, o);
        s.next(images.data(), labels.data());  // then dropped with 29 batches to go
    }
    o.first = 29;
    BatchStream last(l, o);
    CHECK(last.next(images.data(), labels.data()) == 10);
    CHECK(last.done());
    CHECK_THROWS_AS(last.next(images.data(), labels.data()), std::logic_error);
}

TEST_CASE("image folders streamed: headers checked up front, files decoded per batch", "[data][images][stream]") {
    TempDir dir("stream");
    deeper::test::write_split(dir.path() / "train", {"a", "b"}, 6);
    const std::string spec = "folder:" + dir.path().string() + ",size=16";
    const TrainTest cached = load(spec + ",cache=true"), streamed = load(spec + ",cache=false");
    CHECK_FALSE(cached.train.streamed());
    REQUIRE(streamed.train.streamed());
    CHECK(streamed.train.images.empty());
    CHECK(streamed.train.labels == cached.train.labels);
    CHECK(streamed.train.files.size() == 12);
    CHECK(std::filesystem::path(streamed.train.files[1]).filename() == "1.JPG");  // sorted, as ImageFolder
    CHECK(streamed.train.height == 16);  // the nominal size
    CHECK_THROWS_WITH(load(spec + ",cache=maybe"), Catch::Contains("cache=maybe is not auto, true or false"));

    // Flat images (class c all c * 60): every pixel of a streamed batch is its class's value.
    std::vector<std::uint32_t> all(12);
    std::iota(all.begin(), all.end(), 0u);
    Transform tr;
    tr.channels = 3;
    tr.resolution = 16;
    tr.augment = true;
    tr.crop = Crop::resized;
    const Normalization none{{0, 0, 0}, {1, 1, 1}};
    const Loader l(streamed.train, all, none, tr);
    std::vector<float> images(3 * 16 * 16 * 12);
    std::vector<std::int32_t> labels(12);
    l.fill(1, 0, 0, 12, true, images.data(), labels.data());
    for (int i = 0; i < 12; ++i)
        for (int p = 0; p < 3 * 16 * 16; ++p)
            REQUIRE(images[std::size_t(i) * 768 + p] == Approx(labels[std::size_t(i)] * 60 / 255.f).margin(2 / 255.f));

    // A header that reads but a scan cut short: the batch that needs it fails, naming the file;
    // with skip_corrupt it trains blank and is counted.
    const auto path = (dir.path() / "train" / "b" / "3.JPG").string();
    const auto noisy = deeper::test::gradient(40, 30);  // enough scan data to cut into
    deeper::test::write_jpeg(path, 40, 30, 3, noisy.data());
    const auto full = deeper::test::slurp(path);
    const std::size_t scan = full.find("\xFF\xDA");
    REQUIRE(scan != std::string::npos);
    const auto cut = dir.write("train/b/3.JPG", full.substr(0, (scan + full.size()) / 2));
    const TrainTest broken = load(spec + ",cache=false");
    const Loader bl(broken.train, all, none, tr);
    CHECK_THROWS_WITH(bl.fill(1, 0, 0, 12, false, images.data(), labels.data(), Threads::tbb),
                      Catch::StartsWith(cut + ": corrupt JPEG"));
    PassOptions o;
    o.batch = 4;
    o.end = 3;
    o.threads = 2;
    BatchStream s(bl, o);
    CHECK(s.next(images.data(), labels.data()) == 4);                                    // files 0-3
    CHECK(s.next(images.data(), labels.data()) == 4);                                    // 4-7
    CHECK_THROWS_WITH(s.next(images.data(), labels.data()), Catch::StartsWith(cut));  // 8-11 holds b/3
    const TrainTest skipping = load(spec + ",cache=false,skip_corrupt=true");
    const Loader sl(skipping.train, all, none, tr);
    sl.fill(1, 0, 0, 12, false, images.data(), labels.data());
    CHECK(sl.unreadable() == 1);
    CHECK_THAT(sl.first_unreadable(), Catch::StartsWith(cut));
    // A file whose header does not read is refused before any training.
    const auto bad = dir.write("train/a/9.png", "not a png");
    CHECK_THROWS_WITH(load(spec + ",cache=false"), bad + ": not a JPEG or PNG file");
}

TEST_CASE("deeper train streams a folder with resized crops on data threads: the same run as inline",
          "[data][images][stream][cli]") {
    TempDir dir("stream-train");
    deeper::test::write_split(dir.path() / "train", {"a", "b"}, 40);
    deeper::test::write_split(dir.path() / "val", {"a", "b"}, 8);
    const std::string base = "train resnet8 --width 0.25 --data folder:" + dir.path().string() +
                             ",size=24,cache=false --resolution 24 --epochs 2 --batch 16 --threads 1 --seed 4"
                             " --crop resized --crop-scale 0.25,1 --eval-crop 0.875";
    const auto inline_run = deeper::test::run_cli(base + " --out " + (dir.path() / "inline").string());
    INFO(inline_run.out);
    REQUIRE(inline_run.exit_code == 0);
    const auto ahead_run =
        deeper::test::run_cli(base + " --data-threads 1 --prefetch 2 --out " + (dir.path() / "ahead").string());
    INFO(ahead_run.out);
    REQUIRE(ahead_run.exit_code == 0);
    // metrics.csv without its last two columns (epoch_s, img_per_s: timings)
    auto losses = [&](const std::string& run) {
        std::ifstream in(dir.path() / run / "metrics.csv");
        std::string line, out;
        while (std::getline(in, line)) {
            line.erase(line.rfind(','));
            out += line.substr(0, line.rfind(',')) + "|";
        }
        return out;
    };
    CHECK(losses("inline").size() > 40);
    CHECK(losses("inline") == losses("ahead"));
    // A file whose data breaks mid-scan: the run stops naming it, or with skip_corrupt trains it
    // blank and says so.
    const auto path = (dir.path() / "train" / "b" / "5.JPG").string();
    const auto noisy = deeper::test::gradient(40, 30);
    deeper::test::write_jpeg(path, 40, 30, 3, noisy.data());
    const auto full = deeper::test::slurp(path);
    const auto cut = dir.write("train/b/5.JPG", full.substr(0, (full.find("\xFF\xDA") + full.size()) / 2));
    const auto stops = deeper::test::run_cli(base + " --data-threads 1 --out " + (dir.path() / "stops").string());
    CHECK(stops.exit_code == 2);
    CHECK_THAT(stops.out, Catch::Contains(cut + ": corrupt JPEG"));
    const std::string skipping = "train resnet8 --width 0.25 --data folder:" + dir.path().string() +
                                 ",size=24,cache=false,skip_corrupt=true --resolution 24 --epochs 1 --batch 16"
                                 " --threads 2 --data-threads 1";
    const auto blank = deeper::test::run_cli(skipping, "SLURM_CPUS_PER_TASK=2");
    CHECK(blank.exit_code == 0);
    CHECK_THAT(blank.out, Catch::Contains("note: 1 data thread(s) beside 2 net thread(s) on 2 core(s)"));
    CHECK_THAT(blank.out, Catch::Contains(" read(s) of unreadable files so far, trained as blank images; the first: " + cut));

    const auto bad = deeper::test::run_cli("train resnet8 --crop-scale 0.5 --data folder:" + dir.path().string());
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("option 'crop_scale': expected two numbers LO,HI"));
}
