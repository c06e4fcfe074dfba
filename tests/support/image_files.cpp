#include "support/image_files.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
// jpeglib.h needs FILE and size_t declared first
#include <jpeglib.h>

namespace deeper::test {

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
    c.in_color_space = components == 4 ? JCS_CMYK : components == 3 ? JCS_RGB : JCS_GRAYSCALE;
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

void write_split(const std::filesystem::path& dir, const std::vector<std::string>& classes, int per_class) {
    for (std::size_t c = 0; c < classes.size(); ++c) {
        std::filesystem::create_directories(dir / classes[c]);
        for (int i = 0; i < per_class; ++i) {
            const int w = 20 + 7 * (i % 8), h = 31 - 3 * (i % 8);
            std::vector<std::uint8_t> px(std::size_t(w) * h * 3, std::uint8_t(c * 60));
            const auto base = (dir / classes[c] / std::to_string(i)).string();
            if (i % 2) write_jpeg(base + ".JPG", w, h, 3, px.data());
            else write_png(base + ".png", w, h, PNG_FORMAT_RGB, px.data());
        }
    }
}

}  // namespace deeper::test
