// Image decoding on files the test writes itself: PNG (RGB, gray, palette, 16-bit) and JPEG
// (RGB, grayscale, scaled decoding), corrupt and unknown files, and the resize + center crop.
#include <catch2/catch.hpp>

#include <cstdio>
#include <jpeglib.h>
#include <png.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "nets/error.hpp"
#include "runners/data/dataset.hpp"
#include "runners/data/image_decode.hpp"
#include "support.hpp"
#include "support/image_files.hpp"

using namespace deeper::runners::data;
using deeper::test::TempDir;
using deeper::test::gradient;
using deeper::test::write_jpeg;
using deeper::test::write_png;
using deeper::test::write_split;

namespace {

std::string error_of(const std::string& path) {
    try {
        decode_image(path);
    } catch (const deeper::InputError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("PNG in any pixel format decodes to exact 8-bit RGB", "[data][images]") {
    TempDir dir("png");
    const auto rgb = gradient(37, 23);
    const std::string path = (dir.path() / "rgb.png").string();
    write_png(path, 37, 23, PNG_FORMAT_RGB, rgb.data());
    Image im = decode_image(path);
    CHECK(im.width == 37);
    CHECK(im.height == 23);
    CHECK(im.rgb == rgb);  // lossless
    // gray: replicated to the three channels
    std::vector<std::uint8_t> gray(37 * 23);
    for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = std::uint8_t(i % 251);
    write_png((dir.path() / "gray.png").string(), 37, 23, PNG_FORMAT_GRAY, gray.data());
    im = decode_image((dir.path() / "gray.png").string());
    for (std::size_t i = 0; i < gray.size(); ++i) REQUIRE(im.rgb[i * 3 + 1] == gray[i]);
    // 16-bit RGB: the high bytes (libpng converts linear 16-bit to sRGB 8-bit, exact at 0 and max)
    std::vector<std::uint16_t> deep(5 * 4 * 3, 65535);
    deep[0] = 0;
    write_png((dir.path() / "deep.png").string(), 5, 4, PNG_FORMAT_LINEAR_RGB, deep.data());
    im = decode_image((dir.path() / "deep.png").string());
    CHECK(im.rgb[0] == 0);
    CHECK(im.rgb[1] == 255);
    // palette (color-mapped)
    const std::uint8_t colormap[2 * 3] = {10, 20, 30, 200, 210, 220};
    const std::uint8_t index[4] = {0, 1, 1, 0};
    png_image pal;
    std::memset(&pal, 0, sizeof pal);
    pal.version = PNG_IMAGE_VERSION;
    pal.width = 2;
    pal.height = 2;
    pal.format = PNG_FORMAT_RGB_COLORMAP;
    pal.colormap_entries = 2;
    REQUIRE(png_image_write_to_file(&pal, (dir.path() / "pal.png").string().c_str(), 0, index, 0, colormap));
    im = decode_image((dir.path() / "pal.png").string());
    CHECK(std::vector<std::uint8_t>(im.rgb.begin(), im.rgb.begin() + 6) == std::vector<std::uint8_t>{10, 20, 30, 200, 210, 220});
}

TEST_CASE("JPEG decodes to RGB within its loss; grayscale too; scaled decoding keeps the minimum side",
          "[data][images]") {
    TempDir dir("jpeg");
    const auto rgb = gradient(200, 120);
    const std::string path = (dir.path() / "a.jpg").string();
    write_jpeg(path, 200, 120, 3, rgb.data());
    Image im = decode_image(path);
    REQUIRE(im.width == 200);
    REQUIRE(im.height == 120);
    double err = 0;
    for (std::size_t i = 0; i < rgb.size(); ++i) err = std::max(err, std::abs(double(im.rgb[i]) - rgb[i]));
    CHECK(err <= 8);  // quality 98
    // at least 30 pixels on the shorter side: 1/4 scale (30), not 1/8 (15)
    im = decode_image(path, 30);
    CHECK(im.width == 50);
    CHECK(im.height == 30);
    std::vector<std::uint8_t> gray(64 * 48, 77);
    write_jpeg((dir.path() / "g.jpg").string(), 64, 48, 1, gray.data());
    im = decode_image((dir.path() / "g.jpg").string());
    CHECK(std::abs(int(im.rgb[0]) - 77) <= 1);
    CHECK(im.rgb[0] == im.rgb[2]);
}

TEST_CASE("corrupt, truncated and unknown image files name the file", "[data][images]") {
    TempDir dir("badimg");
    const auto rgb = gradient(64, 64);
    const std::string good = (dir.path() / "good.jpg").string();
    write_jpeg(good, 64, 64, 3, rgb.data());
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto cut = dir.write("cut.jpg", bytes.substr(0, 40));
    CHECK_THAT(error_of(cut), Catch::StartsWith(cut + ": corrupt JPEG ("));
    // cut mid-scan: libjpeg would fill the missing rows with gray and only warn
    const auto half = dir.write("half.jpg", bytes.substr(0, bytes.size() * 6 / 10));
    CHECK(error_of(half) == half + ": corrupt JPEG (Premature end of JPEG file)");
    const auto text = dir.write("notes.png", "not an image at all");
    CHECK(error_of(text) == text + ": not a JPEG or PNG file");
    const auto png = dir.write("bad.png", std::string("\x89PNG\r\n\x1a\n", 8) + "garbage garbage garbage");
    CHECK_THAT(error_of(png), Catch::StartsWith(png + ": corrupt PNG ("));
}

TEST_CASE("CMYK JPEGs (Adobe's inverted inks) decode to RGB", "[data][images]") {
    TempDir dir("cmyk");
    // Stored inverted, as Adobe writes them: each RGB channel is the stored value times K / 255.
    std::vector<std::uint8_t> cmyk;
    for (int i = 0; i < 16 * 16; ++i) cmyk.insert(cmyk.end(), {200, 100, 50, std::uint8_t(i < 128 ? 255 : 128)});
    const std::string path = (dir.path() / "cmyk.jpg").string();
    write_jpeg(path, 16, 16, 4, cmyk.data());
    const Image im = decode_image(path);
    REQUIRE(im.width == 16);
    const std::uint8_t* top = im.rgb.data() + 3 * (16 * 2 + 3);      // row 2: K = 255
    const std::uint8_t* bottom = im.rgb.data() + 3 * (16 * 13 + 3);  // row 13: K = 128
    CHECK(std::abs(int(top[0]) - 200) <= 3);
    CHECK(std::abs(int(top[1]) - 100) <= 3);
    CHECK(std::abs(int(top[2]) - 50) <= 3);
    CHECK(std::abs(int(bottom[0]) - 100) <= 3);
    CHECK(std::abs(int(bottom[1]) - 50) <= 3);
    CHECK(std::abs(int(bottom[2]) - 25) <= 3);
}

TEST_CASE("image headers: the stored size from the first bytes; a broken header names the file", "[data][images]") {
    TempDir dir("headers");
    const auto rgb = gradient(70, 45);
    const std::string jpg = (dir.path() / "a.jpg").string(), png = (dir.path() / "a.png").string();
    write_jpeg(jpg, 70, 45, 3, rgb.data());
    write_png(png, 70, 45, PNG_FORMAT_RGB, rgb.data());
    for (const auto& path : {jpg, png}) {
        const ImageInfo info = read_image_info(path);
        CHECK(info.width == 70);
        CHECK(info.height == 45);
    }
    std::ifstream in(jpg, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // cut mid-scan: the header is whole (decoding it fails later, mid-run)
    const std::size_t scan = bytes.find("\xFF\xDA");
    REQUIRE(scan != std::string::npos);
    CHECK(read_image_info(dir.write("half.jpg", bytes.substr(0, (scan + bytes.size()) / 2))).width == 70);
    const auto cut = dir.write("cut.jpg", bytes.substr(0, 40));
    CHECK_THROWS_WITH(read_image_info(cut), Catch::StartsWith(cut + ": corrupt JPEG ("));
    const auto text = dir.write("notes.jpg", "text");
    CHECK_THROWS_WITH(read_image_info(text), text + ": not a JPEG or PNG file");
    // a header behind 100 KB of metadata (an APP marker) still reads
    std::string padded = bytes.substr(0, 2);
    for (int k = 0; k < 2; ++k) padded += std::string("\xFF\xE9\xFF\xFF", 4) + std::string(65533, 'x');
    padded += bytes.substr(2);
    CHECK(read_image_info(dir.write("exif.jpg", padded)).height == 45);
}

TEST_CASE("resize + center crop: shorter side to the target, the middle kept, a flat image stays flat",
          "[data][images]") {
    Image flat{40, 20, std::vector<std::uint8_t>(40 * 20 * 3, 90)};
    auto out = resize_center_crop(flat, 10);
    REQUIRE(out.size() == 3 * 10 * 10);
    for (auto v : out) REQUIRE(v == 90);
    // A 40 x 20 image whose left and right quarters are black, middle white: the 20 x 20 center
    // crop at side 20 is all white; at side 10 (halved) too.
    Image bars{40, 20, std::vector<std::uint8_t>(40 * 20 * 3, 0)};
    for (int y = 0; y < 20; ++y)
        for (int x = 10; x < 30; ++x)
            for (int c = 0; c < 3; ++c) bars.rgb[(std::size_t(y) * 40 + x) * 3 + c] = 255;
    for (int side : {20, 10}) {
        out = resize_center_crop(bars, side);
        for (auto v : out) REQUIRE(v == 255);
    }
}

TEST_CASE("image folders: train/val/test, sorted classes and files, a stored size, corrupt files", "[data][images]") {
    TempDir dir("folder");
    const std::vector<std::string> classes = {"dog", "cat", "emu"};  // sorted: cat, dog, emu
    write_split(dir.path() / "train", classes, 3);
    write_split(dir.path() / "val", classes, 2);
    std::vector<std::uint8_t> gray(25 * 19, 90);
    write_jpeg((dir.path() / "train" / "cat" / "z-gray.jpeg").string(), 25, 19, 1, gray.data());
    dir.write("train/dog/readme.txt", "not an image: ignored");
    const std::string spec = "folder:" + dir.path().string() + ",size=16";
    TrainTest t = load(spec);
    CHECK(t.train.size() == 3 * 3 + 1);
    CHECK(t.train.classes == 3);
    CHECK(t.train.channels == 3);
    CHECK(t.train.height == 16);
    CHECK(t.has_val());
    CHECK(t.val.size() == 3 * 2);
    CHECK(t.test.size() == 0);  // no test/: no test metrics
    // cat (label 0): 0.png 1.JPG 2.png z-gray.jpeg; then dog (1); then emu (2)
    CHECK(t.train.labels == std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 1, 2, 2, 2});
    CHECK(int(t.train.image(0)[0]) == 60);                        // cat's flat color (written second), a PNG: exact
    CHECK(int(t.train.image(4)[0]) == 0);                         // dog's
    CHECK(std::abs(int(t.train.image(3)[5]) - 90) <= 1);          // the gray JPEG, on all three channels
    CHECK(std::abs(int(t.train.image(3)[16 * 16 + 5]) - 90) <= 1);

    // A corrupt file: refused with its name, or skipped and counted.
    const auto bad = dir.write("train/emu/9.png", std::string("\x89PNG\r\n\x1a\n", 8) + "no chunks");
    CHECK_THROWS_WITH(load(spec), Catch::StartsWith(bad + ": corrupt PNG"));
    t = load(spec + ",skip_corrupt=true");
    CHECK(t.train.size() == 10);
    REQUIRE(t.skipped.size() == 1);
    CHECK_THAT(t.skipped[0], Catch::StartsWith(bad));
    CHECK_THROWS_WITH(load("folder:" + dir.path().string() + ",size=2"),
                      Catch::Contains("size=2 is not a side from 8 to 4096 pixels"));
    CHECK_THROWS_WITH(load(spec + ",size=32"), Catch::Contains("option 'size' is given twice"));
    CHECK_THROWS_WITH(load("folder:" + (dir.path() / "nowhere").string()), Catch::Contains("no such directory"));
    // the class filter applies to the validation set too
    t = load(spec + ",skip_corrupt=true,classes=1-2");
    CHECK(t.train.classes == 2);
    CHECK(t.val.size() == 2 * 2);
}

TEST_CASE("image folders: Tiny-ImageNet's layout and a root of class folders", "[data][images]") {
    TempDir dir("tiny");
    const std::vector<std::string> wnids = {"n02", "n01"};
    for (const auto& w : wnids) write_split(dir.path() / "train" / w / "images", {"."}, 2);
    std::filesystem::create_directories(dir.path() / "val" / "images");
    std::vector<std::uint8_t> px(30 * 30 * 3, 7);
    for (const char* f : {"val_0.JPEG", "val_1.JPEG", "val_2.JPEG"})
        write_jpeg((dir.path() / "val" / "images" / f).string(), 30, 30, 3, px.data());
    dir.write("val/val_annotations.txt", "val_0.JPEG\tn02\t0\t0\t10\t10\nval_1.JPEG\tn01\t1\t1\t9\t9\nval_2.JPEG\tn02\t0\t0\t5\t5\n");
    TrainTest t = load("folder:" + dir.path().string() + ",size=8");
    CHECK(t.train.size() == 4);
    CHECK(t.train.labels == std::vector<std::int32_t>{0, 0, 1, 1});  // n01 sorts first
    CHECK(t.val.labels == std::vector<std::int32_t>{1, 0, 1});
    dir.write("val/val_annotations.txt", "val_0.JPEG\tn99\t0\t0\t1\t1\n");
    CHECK_THROWS_WITH(load("folder:" + dir.path().string() + ",size=8"),
                      Catch::EndsWith("val_annotations.txt:1: class 'n99' is not one of train's"));

    // The root ImageFolder takes: the classes themselves, one split.
    TempDir root("root");
    write_split(root.path(), {"b", "a"}, 2);
    t = load("folder:" + root.path().string() + ",size=8");
    CHECK(t.train.size() == 4);
    CHECK(t.train.labels == std::vector<std::int32_t>{0, 0, 1, 1});
    CHECK_FALSE(t.has_val());
}

TEST_CASE("deeper train reads an image folder end to end", "[data][images][cli]") {
    TempDir dir("folder-train");
    write_split(dir.path() / "train", {"a", "b"}, 40);
    write_split(dir.path() / "val", {"a", "b"}, 8);
    const auto r = deeper::test::run_cli("train resnet8 --width 0.25 --data folder:" + dir.path().string() +
                                         ",size=24 --resolution 24 --epochs 2 --batch 16 --threads 1");
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("test: no test set"));
    CHECK_THAT(r.out, Catch::Contains("val loss"));
}
