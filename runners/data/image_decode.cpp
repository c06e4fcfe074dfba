#include "runners/data/image_decode.hpp"

#include <fmt/format.h>
// jpeglib.h needs FILE and size_t declared first
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "nets/error.hpp"
#include "runners/data/dataset.hpp"

namespace deeper::runners::data {

namespace {

// libjpeg reports errors through a callback that must not return: jump back to the decoder.
struct JpegError {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr c) {
    auto* e = reinterpret_cast<JpegError*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
}

// Warnings (level -1): a file that ends early would decode with its missing rows gray, so that
// one is an error; the others (extraneous bytes and the like, common in real photo sets and
// harmless) pass silently instead of going to stderr. Trace messages (level >= 0) are dropped.
void on_jpeg_message(j_common_ptr c, int level) {
    if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) on_jpeg_error(c);
}

// The decoder's state lives outside the function that calls setjmp, so that nothing with a
// destructor is skipped by the jump.
struct JpegDecoder {
    jpeg_decompress_struct info{};
    JpegError err{};
    std::vector<std::uint8_t> row;
};

// header_only: the stored size only, nothing decoded.
Image decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& path, int min_side,
                  std::uint64_t max_pixels, bool header_only) {
    JpegDecoder d;
    Image im;
    d.info.err = jpeg_std_error(&d.err.mgr);
    d.err.mgr.error_exit = on_jpeg_error;
    d.err.mgr.emit_message = on_jpeg_message;
    if (setjmp(d.err.jump)) {
        jpeg_destroy_decompress(&d.info);
        throw InputError(fmt::format("{}: corrupt JPEG ({})", path, d.err.message));
    }
    jpeg_create_decompress(&d.info);
    jpeg_mem_src(&d.info, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&d.info, TRUE);
    if (header_only) {
        im.width = int(d.info.image_width);
        im.height = int(d.info.image_height);
        jpeg_destroy_decompress(&d.info);
        return im;
    }
    if (std::uint64_t(d.info.image_width) * d.info.image_height > max_pixels) {
        jpeg_destroy_decompress(&d.info);
        refuse_too_many_pixels(path, int(d.info.image_width), int(d.info.image_height), max_pixels);
    }
    const bool cmyk = d.info.jpeg_color_space == JCS_CMYK || d.info.jpeg_color_space == JCS_YCCK;
    d.info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    d.info.scale_num = 1;
    d.info.scale_denom = 1;
    const int shorter = int(std::min(d.info.image_width, d.info.image_height));
    for (int denom : {8, 4, 2})
        if (min_side > 0 && shorter / denom >= min_side) {
            d.info.scale_denom = unsigned(denom);
            break;
        }
    jpeg_start_decompress(&d.info);
    im.width = int(d.info.output_width);
    im.height = int(d.info.output_height);
    const int comps = d.info.output_components;
    im.rgb.resize(std::size_t(im.width) * im.height * 3);
    d.row.resize(std::size_t(im.width) * comps);
    while (d.info.output_scanline < d.info.output_height) {
        const int y = int(d.info.output_scanline);
        JSAMPROW rows[1] = {d.row.data()};
        jpeg_read_scanlines(&d.info, rows, 1);
        std::uint8_t* out = im.rgb.data() + std::size_t(y) * im.width * 3;
        for (int x = 0; x < im.width; ++x) {
            if (cmyk) {  // Adobe's CMYK JPEGs store the inks inverted: each channel is ink * K / 255
                const int c = d.row[x * 4], m = d.row[x * 4 + 1], yy = d.row[x * 4 + 2], k = d.row[x * 4 + 3];
                out[x * 3] = std::uint8_t(c * k / 255);
                out[x * 3 + 1] = std::uint8_t(m * k / 255);
                out[x * 3 + 2] = std::uint8_t(yy * k / 255);
            } else {
                std::memcpy(out + x * 3, d.row.data() + x * 3, 3);
            }
        }
    }
    jpeg_finish_decompress(&d.info);
    jpeg_destroy_decompress(&d.info);
    return im;
}

// libpng reports errors through a callback that must not return, as libjpeg does; warnings
// (unknown chunks, a bad gamma) are harmless and dropped.
struct PngDecoder {
    png_structp png = nullptr;
    png_infop info = nullptr;
    const std::vector<std::uint8_t>* bytes = nullptr;
    std::size_t at = 0;
    std::string message;
    std::vector<png_bytep> rows;
    ~PngDecoder() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void on_png_error(png_structp png, png_const_charp message) {
    static_cast<PngDecoder*>(png_get_error_ptr(png))->message = message;
    png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

void read_png_bytes(png_structp png, png_bytep out, png_size_t n) {
    auto* d = static_cast<PngDecoder*>(png_get_io_ptr(png));
    if (n > d->bytes->size() - d->at) png_error(png, "file ends early");
    std::memcpy(out, d->bytes->data() + d->at, n);
    d->at += n;
}

// Through libpng's own transforms, as torchvision's decode_png reads RGB: 16-bit samples scaled
// to 8 bits (not treated as linear light), alpha dropped (not composited), gray and palette
// expanded. The size is checked against `max_pixels` before any pixel is allocated.
Image decode_png(const std::vector<std::uint8_t>& bytes, const std::string& path, std::uint64_t max_pixels,
                 bool header_only) {
    PngDecoder d;
    d.bytes = &bytes;
    d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_png_error, on_png_warning);
    if (d.png) d.info = png_create_info_struct(d.png);
    if (!d.png || !d.info) throw InputError(fmt::format("{}: cannot start the PNG decoder", path));
    Image im;
    if (setjmp(png_jmpbuf(d.png))) throw InputError(fmt::format("{}: corrupt PNG ({})", path, d.message));
    png_set_read_fn(d.png, &d, read_png_bytes);
    png_read_info(d.png, d.info);
    im.width = int(png_get_image_width(d.png, d.info));
    im.height = int(png_get_image_height(d.png, d.info));
    if (header_only) return im;
    refuse_too_many_pixels(path, im.width, im.height, max_pixels);
    const int color = png_get_color_type(d.png, d.info), depth = png_get_bit_depth(d.png, d.info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(d.png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(d.png);
    if (depth == 16) png_set_scale_16(d.png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(d.png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(d.png);
    png_set_interlace_handling(d.png);
    png_read_update_info(d.png, d.info);
    if (png_get_rowbytes(d.png, d.info) != std::size_t(im.width) * 3)
        throw InputError(fmt::format("{}: corrupt PNG (unexpected pixel format)", path));
    im.rgb.resize(std::size_t(im.width) * im.height * 3);
    d.rows.resize(std::size_t(im.height));
    for (int y = 0; y < im.height; ++y) d.rows[std::size_t(y)] = im.rgb.data() + std::size_t(y) * im.width * 3;
    png_read_image(d.png, d.rows.data());
    png_read_end(d.png, nullptr);
    return im;
}

// The first `limit` bytes of a file (all of it when shorter).
std::vector<std::uint8_t> read_head(const std::string& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
    in.seekg(0, std::ios::end);
    std::vector<std::uint8_t> bytes(std::min<std::size_t>(limit, std::size_t(std::max<std::streamoff>(0, in.tellg()))));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()));
    bytes.resize(std::size_t(in.gcount()));
    return bytes;
}

Image decode_bytes(const std::vector<std::uint8_t>& bytes, const std::string& path, int min_side,
                   std::uint64_t max_pixels, bool header_only) {
    if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        return decode_jpeg(bytes, path, min_side, max_pixels, header_only);
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0)
        return decode_png(bytes, path, max_pixels, header_only);
    throw InputError(fmt::format("{}: not a JPEG or PNG file", path));
}

}  // namespace

// A decompression bomb (a few bytes declaring 65500 x 65500 pixels) is refused from its header.
void refuse_too_many_pixels(const std::string& path, int width, int height, std::uint64_t max_pixels) {
    const std::uint64_t pixels = std::uint64_t(width) * std::uint64_t(height);
    if (pixels > max_pixels)
        throw InputError(fmt::format("{}: {} x {} pixels is more than an image may have ({}; the folder option "
                                     "max_pixels=N raises it)",
                                     path, width, height, max_pixels));
}

ImageInfo read_image_info(const std::string& path) {
    // Headers fit in the first 64 KB but for the odd photo whose metadata (EXIF thumbnails, ICC
    // profiles) comes first: then the whole file.
    constexpr std::size_t head = 64 * 1024;
    const std::vector<std::uint8_t> bytes = read_head(path, head);
    Image im;
    try {
        im = decode_bytes(bytes, path, 0, kMaxImagePixels, true);
    } catch (const InputError&) {
        if (bytes.size() < head) throw;
        im = decode_bytes(read_head(path, SIZE_MAX), path, 0, kMaxImagePixels, true);
    }
    return {im.width, im.height};
}

Image decode_image(const std::string& path, int min_side, std::uint64_t max_pixels) {
    return decode_bytes(read_maybe_gzipped(path), path, min_side, max_pixels, false);
}

std::vector<std::uint8_t> to_planes(const Image& im) {
    const std::size_t plane = std::size_t(im.width) * im.height;
    std::vector<std::uint8_t> out(3 * plane);
    for (std::size_t p = 0; p < plane; ++p)
        for (std::size_t c = 0; c < 3; ++c) out[c * plane + p] = im.rgb[p * 3 + c];
    return out;
}

std::vector<std::uint8_t> resize_center_crop(const Image& im, int side) {
    const double scale = double(side) / std::min(im.width, im.height);
    // the resized image's size, then the crop's offset in it
    const int rw = std::max(side, int(std::lround(im.width * scale))), rh = std::max(side, int(std::lround(im.height * scale)));
    const int ox = (rw - side) / 2, oy = (rh - side) / 2;
    std::vector<std::uint8_t> out(std::size_t(3) * side * side);
    const double fx = double(im.width) / rw, fy = double(im.height) / rh;
    // Each output pixel averages the source box it covers (at least one source pixel wide).
    for (int y = 0; y < side; ++y) {
        const double y0 = (y + oy) * fy, y1 = std::max(y0 + 1.0, (y + oy + 1) * fy);
        for (int x = 0; x < side; ++x) {
            const double x0 = (x + ox) * fx, x1 = std::max(x0 + 1.0, (x + ox + 1) * fx);
            double sum[3] = {0, 0, 0}, weight = 0;
            for (int sy = int(y0); sy < std::min(int(std::ceil(y1)), im.height); ++sy) {
                const double wy = std::min<double>(sy + 1, y1) - std::max<double>(sy, y0);
                if (wy <= 0) continue;
                for (int sx = int(x0); sx < std::min(int(std::ceil(x1)), im.width); ++sx) {
                    const double wx = std::min<double>(sx + 1, x1) - std::max<double>(sx, x0);
                    if (wx <= 0) continue;
                    const std::uint8_t* p = im.rgb.data() + (std::size_t(sy) * im.width + sx) * 3;
                    for (int c = 0; c < 3; ++c) sum[c] += wx * wy * p[c];
                    weight += wx * wy;
                }
            }
            for (int c = 0; c < 3; ++c)
                out[(std::size_t(c) * side + y) * side + x] = std::uint8_t(std::clamp(std::lround(sum[c] / weight), 0L, 255L));
        }
    }
    return out;
}

}  // namespace deeper::runners::data
