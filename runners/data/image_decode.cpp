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
Image decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& path, int min_side, bool header_only) {
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

Image decode_png(const std::vector<std::uint8_t>& bytes, const std::string& path, bool header_only) {
    png_image png;
    std::memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
        throw InputError(fmt::format("{}: corrupt PNG ({})", path, png.message));
    png.format = PNG_FORMAT_RGB;  // gray, palette, 16-bit and alpha all become 8-bit RGB
    Image im;
    im.width = int(png.width);
    im.height = int(png.height);
    if (header_only) {
        png_image_free(&png);
        return im;
    }
    im.rgb.resize(PNG_IMAGE_SIZE(png));
    if (!png_image_finish_read(&png, nullptr, im.rgb.data(), 0, nullptr)) {
        const std::string why = png.message;
        png_image_free(&png);
        throw InputError(fmt::format("{}: corrupt PNG ({})", path, why));
    }
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

Image decode_bytes(const std::vector<std::uint8_t>& bytes, const std::string& path, int min_side, bool header_only) {
    if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        return decode_jpeg(bytes, path, min_side, header_only);
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0)
        return decode_png(bytes, path, header_only);
    throw InputError(fmt::format("{}: not a JPEG or PNG file", path));
}

}  // namespace

ImageInfo read_image_info(const std::string& path) {
    // Headers fit in the first 64 KB but for the odd photo whose metadata (EXIF thumbnails, ICC
    // profiles) comes first: then the whole file.
    constexpr std::size_t head = 64 * 1024;
    const std::vector<std::uint8_t> bytes = read_head(path, head);
    Image im;
    try {
        im = decode_bytes(bytes, path, 0, true);
    } catch (const InputError&) {
        if (bytes.size() < head) throw;
        im = decode_bytes(read_head(path, SIZE_MAX), path, 0, true);
    }
    return {im.width, im.height};
}

Image decode_image(const std::string& path, int min_side) {
    return decode_bytes(read_maybe_gzipped(path), path, min_side, false);
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
