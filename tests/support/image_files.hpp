#pragma once
// Writing the PNG and JPEG files the image tests read.
#include <png.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace deeper::test {

// A w x h RGB gradient: R = x, G = y, B = 100.
std::vector<std::uint8_t> gradient(int w, int h);
// `pixels` in one of libpng's simplified formats (PNG_FORMAT_RGB, _GRAY, ...).
void write_png(const std::string& path, int w, int h, png_uint_32 format, const void* pixels);
// 1 (gray), 3 (RGB) or 4 (CMYK, with the Adobe marker libjpeg writes) components, quality 98.
void write_jpeg(const std::string& path, int w, int h, int components, const std::uint8_t* pixels);

// DIR/<class>/<n>.png|JPG, `per_class` files per class, odd sizes (20-69 x 10-31), class c's
// pixels all c * 60; even n are PNG, odd n JPEG.
void write_split(const std::filesystem::path& dir, const std::vector<std::string>& classes, int per_class);

}  // namespace deeper::test
