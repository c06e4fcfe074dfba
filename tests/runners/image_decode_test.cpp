// Image decoding on files the test writes itself: PNG (RGB, gray, palette, 16-bit) and JPEG
// (RGB, grayscale, scaled decoding), corrupt and unknown files, and the resize + center crop.
#include <catch2/catch.hpp>

#include <cstdio>
#include <jpeglib.h>
#include <png.h>

#include <cstring>
#include <fstream>

#include "nets/error.hpp"
#include "runners/data/image_decode.hpp"
#include "support.hpp"

using namespace deeper::runners::data;
using deeper::test::TempDir;

namespace {

// A w x h gradient: R = x, G = y, B = 100.
std::vector<std::uint8_t> gradient(int w, int h) {
    std::vector<std::uint8_t> p(std::size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            std::uint8_t* q = p.data() + (std::size_t(y) * w + x) * 3;
            q[0] = std::uint8_t(x), q[1] = std::uint8_t(y), q[2] = 100;
        }
    return p;
}

void write_png(const std::string& path, int w, int h, png_uint_32 format, const void* pixels) {
    png_image im;
    std::memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = png_uint_32(w);
    im.height = png_uint_32(h);
    im.format = format;
    REQUIRE(png_image_write_to_file(&im, path.c_str(), 0, pixels, 0, nullptr));
}

void write_jpeg(const std::string& path, int w, int h, int components, const std::uint8_t* pixels) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = JDIMENSION(w);
    c.image_height = JDIMENSION(h);
    c.input_components = components;
    c.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 98, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<std::uint8_t*>(pixels) + std::size_t(c.next_scanline) * w * components;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    std::fclose(f);
    jpeg_destroy_compress(&c);
}

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
