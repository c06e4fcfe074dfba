#include "runners/data/dataset.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <random>

#include "nets/error.hpp"
#include "runners/data/image_folder.hpp"
#include "search/yaml_util.hpp"

namespace deeper::runners::data {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read_maybe_gzipped(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open the file", path));
    std::vector<std::uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw InputError(fmt::format("{}: cannot open the gzip stream", path));
    std::vector<std::uint8_t> out;
    std::uint8_t buf[1 << 16];
    int n;
    while ((n = gzread(gz, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
    int err = 0;
    const char* msg = gzerror(gz, &err);
    const bool truncated = n < 0 || (err != Z_OK && err != Z_STREAM_END);
    std::string what = msg ? msg : "";
    gzclose(gz);
    if (truncated) throw InputError(fmt::format("{}: corrupt or truncated gzip data ({})", path, what));
    return out;
}

namespace {

std::uint32_t big_endian(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// IDX: magic 0x0000 08 NDIMS (unsigned bytes), NDIMS big-endian sizes, then the data.
std::vector<std::uint32_t> idx_header(const std::vector<std::uint8_t>& f, const std::string& path,
                                      int want_dims) {
    if (f.size() < 4 || f[0] != 0 || f[1] != 0)
        throw InputError(fmt::format("{}: not an IDX file (bad magic number)", path));
    if (f[2] != 0x08)
        throw InputError(fmt::format("{}: IDX data type 0x{:02x} is not unsigned bytes (0x08)", path, f[2]));
    if (f[3] != want_dims)
        throw InputError(fmt::format("{}: IDX file has {} dimensions, expected {}", path, f[3], want_dims));
    if (f.size() < 4 + 4 * std::size_t(want_dims))
        throw InputError(fmt::format("{}: truncated IDX header", path));
    std::vector<std::uint32_t> dims;
    std::size_t expect = 1;
    for (int d = 0; d < want_dims; ++d) {
        dims.push_back(big_endian(f.data() + 4 + 4 * d));
        expect *= dims.back();
    }
    const std::size_t have = f.size() - 4 - 4 * want_dims;
    if (have != expect)
        throw InputError(fmt::format("{}: {} data bytes, but the header's sizes need {} ({})", path,
                                     have, expect, have < expect ? "truncated" : "trailing bytes"));
    return dims;
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path, int classes) {
    const auto fi = read_maybe_gzipped(images_path);
    const auto fl = read_maybe_gzipped(labels_path);
    const auto di = idx_header(fi, images_path, 3);
    const auto dl = idx_header(fl, labels_path, 1);
    if (di[0] != dl[0])
        throw InputError(fmt::format("{}: {} images but {} has {} labels", images_path, di[0],
                                     labels_path, dl[0]));
    Dataset d;
    d.channels = 1;
    d.height = int(di[1]);
    d.width = int(di[2]);
    d.classes = classes;
    d.images.assign(fi.begin() + 16, fi.end());
    d.labels.reserve(dl[0]);
    for (std::size_t i = 0; i < dl[0]; ++i) {
        const int l = fl[8 + i];
        if (l >= classes)
            throw InputError(fmt::format("{}: label {} of item {} is out of range (classes 0-{})",
                                         labels_path, l, i, classes - 1));
        d.labels.push_back(l);
    }
    return d;
}

namespace {

// The IDX pair under dir: train-images-idx3-ubyte[.gz] etc.
std::string find_file(const std::string& dir, const std::string& stem) {
    for (const char* ext : {".gz", ""}) {
        fs::path p = fs::path(dir) / (stem + ext);
        if (fs::exists(p)) return p.string();
    }
    throw InputError(fmt::format("{}: no {} or {}.gz (is the dataset there?)", dir, stem, stem));
}

TrainTest load_idx_dir(const std::string& name, const std::string& dir) {
    if (!fs::is_directory(dir))
        throw InputError(fmt::format("{}: no such directory for {}{}", dir, name,
                                     name == "fashion-mnist"
                                         ? " (apt-get install dataset-fashion-mnist)"
                                         : ""));
    TrainTest t;
    t.train = read_idx(find_file(dir, "train-images-idx3-ubyte"), find_file(dir, "train-labels-idx1-ubyte"), 10);
    t.test = read_idx(find_file(dir, "t10k-images-idx3-ubyte"), find_file(dir, "t10k-labels-idx1-ubyte"), 10);
    t.train.name = t.test.name = name;
    return t;
}

// CIFAR binary: records of label byte(s) then 3x32x32 bytes (R, G, B planes).
void append_cifar(Dataset& d, const std::string& path, int label_bytes, int classes) {
    const auto f = read_maybe_gzipped(path);
    const std::size_t rec = label_bytes + 3072;
    if (f.empty() || f.size() % rec)
        throw InputError(fmt::format("{}: {} bytes is not a whole number of {}-byte CIFAR records",
                                     path, f.size(), rec));
    for (std::size_t o = 0; o < f.size(); o += rec) {
        const int l = f[o + label_bytes - 1];  // CIFAR-100: the fine label is the second byte
        if (l >= classes)
            throw InputError(fmt::format("{}: label {} of record {} is out of range", path, l, o / rec));
        d.labels.push_back(l);
        d.images.insert(d.images.end(), f.begin() + o + label_bytes, f.begin() + o + rec);
    }
}

TrainTest load_cifar(const std::string& name, const std::string& dir, bool hundred) {
    if (!fs::is_directory(dir)) throw InputError(fmt::format("{}: no such directory for {}", dir, name));
    TrainTest t;
    for (Dataset* d : {&t.train, &t.test}) {
        d->name = name;
        d->channels = 3;
        d->height = d->width = 32;
        d->classes = hundred ? 100 : 10;
    }
    auto path = [&](const std::string& f) {
        fs::path p = fs::path(dir) / f;
        if (!fs::exists(p)) throw InputError(fmt::format("{}: missing {}", dir, f));
        return p.string();
    };
    if (hundred) {
        append_cifar(t.train, path("train.bin"), 2, 100);
        append_cifar(t.test, path("test.bin"), 2, 100);
    } else {
        for (int b = 1; b <= 5; ++b) append_cifar(t.train, path(fmt::format("data_batch_{}.bin", b)), 1, 10);
        append_cifar(t.test, path("test_batch.bin"), 1, 10);
    }
    return t;
}

}  // namespace

TrainTest synthetic(std::size_t train_size, std::size_t test_size, std::uint64_t seed) {
    TrainTest t;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.f, 40.f);
    auto fill = [&](Dataset& d, std::size_t n) {
        d.name = "synthetic";
        d.channels = 1;
        d.height = d.width = 28;
        d.classes = 10;
        d.images.resize(n * 28 * 28);
        d.labels.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const int c = int(rng() % 10);
            d.labels[i] = c;
            // class c: stripes at angle c * 18 degrees, with frequency depending on c parity
            const float a = float(c) * 0.314159f, f = c % 2 ? 0.5f : 0.3f;
            const float phase = float(rng() % 628) / 100.f;
            for (int y = 0; y < 28; ++y)
                for (int x = 0; x < 28; ++x) {
                    float v = 128.f + 100.f * std::sin(f * (x * std::cos(a) + y * std::sin(a)) + phase) + noise(rng);
                    d.images[i * 784 + y * 28 + x] = std::uint8_t(std::clamp(v, 0.f, 255.f));
                }
        }
    };
    fill(t.train, train_size);
    fill(t.test, test_size);
    return t;
}

namespace {

// The data of one kind; `arg` is its directory or (synthetic) size.
TrainTest load_kind(const std::string& kind, const std::string& arg, const std::string& spec) {
    if (kind == "fashion-mnist") return load_idx_dir(kind, arg.empty() ? kFashionMnistDir : arg);
    if (kind == "mnist") {
        if (arg.empty()) throw InputError("data 'mnist' needs a directory: mnist:DIR");
        return load_idx_dir(kind, arg);
    }
    if (kind == "cifar10" || kind == "cifar100") {
        if (arg.empty()) throw InputError(fmt::format("data '{}' needs a directory: {}:DIR", kind, kind));
        return load_cifar(kind, arg, kind == "cifar100");
    }
    if (kind == "synthetic") {
        std::size_t n = 2000;
        if (!arg.empty()) {
            const bool digits = arg.size() <= 8 && arg.find_first_not_of("0123456789") == std::string::npos;
            n = digits ? std::stoul(arg) : 0;
            if (n == 0 || n > 10000000)
                throw InputError(fmt::format("data 'synthetic:{}': expected a number of images from 1 to 10000000", arg));
        }
        return synthetic(n, std::max<std::size_t>(n / 5, 10));
    }
    throw InputError(fmt::format("unknown data '{}' (expected fashion-mnist[:DIR], mnist:DIR, "
                                 "cifar10:DIR, cifar100:DIR, folder:DIR or synthetic[:N])", spec));
}

// "classes=LO-HI" or "classes=K": the class range an option names, checked against the data.
std::pair<int, int> class_range(const std::string& value, int classes, const std::string& spec) {
    int lo = -1, hi = -1;
    char dash = 0, extra = 0;
    const int got = std::sscanf(value.c_str(), "%d%c%d%c", &lo, &dash, &hi, &extra);
    if (got == 1) hi = lo;
    if (!(got == 1 || (got == 3 && dash == '-')) || lo < 0 || hi < lo || hi >= classes)
        throw InputError(fmt::format("data '{}': classes={} is not a class or a range LO-HI of classes 0-{}", spec,
                                     value, classes - 1));
    return {lo, hi};
}

// Keeps the images of classes lo..hi, relabelled 0..hi-lo (a transfer task's label space).
void keep_classes(Dataset& d, int lo, int hi) {
    Dataset out;
    out.name = d.name;
    out.channels = d.channels, out.height = d.height, out.width = d.width, out.classes = hi - lo + 1;
    out.skip_corrupt = d.skip_corrupt;
    out.max_pixels = d.max_pixels;
    for (std::size_t i = 0; i < d.size(); ++i)
        if (d.labels[i] >= lo && d.labels[i] <= hi) {
            out.labels.push_back(d.labels[i] - lo);
            if (d.streamed()) out.files.push_back(d.files[i]);
            else out.images.insert(out.images.end(), d.image(i), d.image(i) + d.image_bytes());
        }
    d = std::move(out);
}

// The image-folder options of a spec (size=N, skip_corrupt=true|false).
bool folder_option(FolderOptions& o, const std::string& key, const std::string& value, const std::string& spec) {
    if (key == "size") {
        char* end = nullptr;
        const long side = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end || side < 8 || side > 4096)
            throw InputError(fmt::format("data '{}': size={} is not a side from 8 to 4096 pixels", spec, value));
        o.size = int(side);
        return true;
    }
    if (key == "cache") {
        if (value != "auto" && value != "true" && value != "false")
            throw InputError(fmt::format("data '{}': cache={} is not auto, true or false", spec, value));
        o.cache = value == "auto" ? FolderCache::automatic : value == "true" ? FolderCache::memory : FolderCache::stream;
        return true;
    }
    if (key == "max_pixels") {
        char* end = nullptr;
        const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
        if (value.empty() || *end || value[0] == '-' || n < 64)
            throw InputError(fmt::format("data '{}': max_pixels={} is not a whole number of pixels >= 64", spec, value));
        o.max_pixels = n;
        return true;
    }
    if (key == "skip_corrupt") {
        if (value != "true" && value != "false")
            throw InputError(fmt::format("data '{}': skip_corrupt={} is not true or false", spec, value));
        o.skip_corrupt = value == "true";
        return true;
    }
    return false;
}

}  // namespace

TrainTest load(const std::string& spec) {
    const auto colon = spec.find(':');
    const std::string kind = spec.substr(0, colon);
    std::string arg;
    std::vector<std::pair<std::string, std::string>> options;
    if (colon != std::string::npos)
        for (const auto& part : search::split_commas(spec.substr(colon + 1))) {
            const auto eq = part.find('=');
            if (eq != std::string::npos) options.emplace_back(part.substr(0, eq), part.substr(eq + 1));
            else if (arg.empty()) arg = part;
            else throw InputError(fmt::format("data '{}': '{}' and '{}' are both a directory or size", spec, arg, part));
        }
    const bool folder = kind == "folder";
    if (folder && arg.empty()) throw InputError("data 'folder' needs a directory: folder:DIR");
    FolderOptions fo;
    std::optional<std::string> classes;
    std::set<std::string> given;
    for (const auto& [key, value] : options) {
        if (!given.insert(key).second)
            throw InputError(fmt::format("data '{}': option '{}' is given twice", spec, key));
        if (key == "classes") classes = value;
        else if (!folder || !folder_option(fo, key, value, spec))
            throw InputError(fmt::format("data '{}': unknown option '{}' (known: classes=LO-HI{})", spec, key,
                                         folder ? ", size=N, cache=auto|true|false, skip_corrupt=true, max_pixels=N" : ""));
    }
    TrainTest t = folder ? load_image_folder(arg, fo) : load_kind(kind, arg, spec);
    if (classes) {
        const auto [lo, hi] = class_range(*classes, t.train.classes, spec);
        for (Dataset* d : {&t.train, &t.test, &t.val}) keep_classes(*d, lo, hi);
    }
    return t;
}

}  // namespace deeper::runners::data
