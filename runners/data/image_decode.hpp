#pragma once
// Decoding one image file: JPEG through libjpeg-turbo (its libjpeg API, with DCT-domain scaled
// decoding when the target is much smaller than the image) and PNG through libpng. Whatever the
// file stores (grayscale, RGB, CMYK JPEG, palette, 16-bit or alpha PNG), the result is 8-bit RGB
// as torchvision reads it; a corrupt, truncated or unknown file, or one declaring more pixels
// than `max_pixels`, throws InputError naming it before its pixels are allocated.
#include <cstdint>
#include <string>
#include <vector>

namespace deeper::runners::data {

struct Image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> rgb;  // height x width x 3
};

// The stored size of an image file from its first bytes only (a quick check of a whole folder
// before training from it); throws InputError naming a file that is not a readable JPEG or PNG.
struct ImageInfo {
    int width = 0, height = 0;
};
ImageInfo read_image_info(const std::string& path);

// `min_side` > 0: JPEGs may decode at 1/2, 1/4 or 1/8 scale as long as their shorter side stays
// at least min_side (the resize that follows then starts from fewer pixels).
// Throws InputError naming the file when width x height exceeds max_pixels.
void refuse_too_many_pixels(const std::string& path, int width, int height, std::uint64_t max_pixels);

// The default ceiling on an image's pixels: PIL's (2 x its MAX_IMAGE_PIXELS, where it errors).
inline constexpr std::uint64_t kMaxImagePixels = 178956970;
Image decode_image(const std::string& path, int min_side = 0, std::uint64_t max_pixels = kMaxImagePixels);

// The image as 3 planes (C, H, W), the layout the net's input is built from.
std::vector<std::uint8_t> to_planes(const Image& im);

// The shorter side resized to `side` by area averaging (each output pixel the mean of the source
// box it covers; enlarging repeats source pixels), then the center side x side crop: what
// torchvision's antialiased Resize(side) + CenterCrop(side) does, up to the filter. Returns
// 3 x side x side planes (C, H, W).
std::vector<std::uint8_t> resize_center_crop(const Image& im, int side);

}  // namespace deeper::runners::data
