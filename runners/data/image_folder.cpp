#include "runners/data/image_folder.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <sstream>

#include "nets/error.hpp"
#include "runners/data/image_decode.hpp"
#include "runners/memory_budget.hpp"
#include "search/input_file.hpp"

namespace deeper::runners::data {

namespace fs = std::filesystem;

namespace {

bool is_image(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

[[noreturn]] void unreadable(const fs::path& p, const std::error_code& ec) {
    throw InputError(fmt::format("{}: cannot read ({})", p.string(), ec.message()));
}

// Whether `p` is a folder; a path that cannot be looked at (a symlink loop, no permission) is
// refused by name, a missing one is not a folder.
bool is_folder(const fs::path& p) {
    std::error_code ec;
    const bool folder = fs::is_directory(p, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) unreadable(p, ec);
    return folder;
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        const bool wanted = directories ? is_folder(p) : is_image(p) && it->is_regular_file(ec);
        if (ec) unreadable(p, ec);
        if (wanted) out.push_back(p);
    }
    if (ec) unreadable(dir, ec);
    std::sort(out.begin(), out.end());
    return out;
}

// Whether a folder holds an image file, looking no further than the first (a class folder of
// ImageNet holds 1,300).
bool holds_image(const fs::path& dir) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const bool image = is_image(it->path()) && it->is_regular_file(ec);
        if (ec) unreadable(it->path(), ec);
        if (image) return true;
    }
    if (ec) unreadable(dir, ec);
    return false;
}

struct Labelled {
    fs::path file;
    int label;
};

// DIR/<class>/* (or DIR/<class>/images/*, Tiny-ImageNet's train) with the given classes.
std::vector<Labelled> class_folders(const fs::path& dir, const std::vector<std::string>& classes) {
    std::vector<Labelled> out;
    for (std::size_t c = 0; c < classes.size(); ++c) {
        fs::path d = dir / classes[c];
        if (!is_folder(d)) continue;  // a class with no images in this split
        if (is_folder(d / "images")) d /= "images";
        for (const auto& f : sorted_entries(d, false)) out.push_back({f, int(c)});
    }
    return out;
}

// Tiny-ImageNet's val: DIR/val/images/* and val_annotations.txt (file, class, box).
std::vector<Labelled> annotated_folder(const fs::path& dir, const std::vector<std::string>& classes) {
    std::map<std::string, int> label_of;
    for (std::size_t c = 0; c < classes.size(); ++c) label_of[classes[c]] = int(c);
    const std::string list = (dir / "val_annotations.txt").string();
    std::istringstream in(search::read_input_file(list, search::kMaxTextFileBytes, "annotation list"));
    std::map<std::string, std::pair<int, int>> file_label;  // file -> (label, line)
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        std::istringstream fields(line);
        std::string file, cls;
        if (!(fields >> file >> cls)) continue;
        const auto it = label_of.find(cls);
        if (it == label_of.end()) throw InputError(fmt::format("{}:{}: class '{}' is not one of train's", list, n, cls));
        const auto [at, fresh] = file_label.emplace(file, std::pair{it->second, n});
        if (!fresh && at->second.first != it->second)
            throw InputError(fmt::format("{}:{}: {} is labelled '{}' here and '{}' at line {}", list, n, file, cls,
                                         classes[std::size_t(at->second.first)], at->second.second));
    }
    std::vector<Labelled> out;
    for (const auto& f : sorted_entries(dir / "images", false)) {
        const auto it = file_label.find(f.filename().string());
        if (it == file_label.end())
            throw InputError(fmt::format("{}: not in val_annotations.txt", f.string()));
        out.push_back({f, it->second.first});
    }
    return out;
}

// A split's dataset before its images: name, size, classes.
Dataset empty_split(const std::vector<std::string>& classes, const FolderOptions& o, const std::string& name) {
    Dataset d;
    d.name = name;
    d.channels = 3;
    d.height = d.width = o.size;
    d.classes = int(classes.size());
    d.skip_corrupt = o.skip_corrupt;
    d.max_pixels = o.max_pixels;
    return d;
}

// Runs read(i) on every file in parallel; returns the readable ones' positions in file order.
// An unreadable file is refused (the first in file order) or, with skip_corrupt, listed in
// `skipped`.
template <class Read>
std::vector<std::size_t> readable(const std::vector<Labelled>& files, const FolderOptions& o,
                                  std::vector<std::string>& skipped, Read&& read) {
    std::vector<std::string> errors(files.size());
    tbb::parallel_for(std::size_t(0), files.size(), [&](std::size_t i) {
        try {
            read(i);
        } catch (const InputError& e) {
            errors[i] = e.what();
        }
    });
    std::vector<std::size_t> kept;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (errors[i].empty()) {
            kept.push_back(i);
            continue;
        }
        if (!o.skip_corrupt) throw InputError(errors[i]);
        skipped.push_back(errors[i]);
    }
    return kept;
}

// Decodes every file into its own slot, then packs the readable ones in order.
Dataset decode_all(const std::vector<Labelled>& files, const std::vector<std::string>& classes, const FolderOptions& o,
                   const std::string& name, std::vector<std::string>& skipped) {
    Dataset d = empty_split(classes, o, name);
    const std::size_t bytes = d.image_bytes();
    require_memory(std::uint64_t(files.size()) * bytes,
                   fmt::format("decoding {} images of {} at {}x{} into memory", files.size(), name, o.size, o.size));
    d.images.resize(files.size() * bytes);
    const auto kept = readable(files, o, skipped, [&](std::size_t i) {
        const auto pixels = resize_center_crop(decode_image(files[i].file.string(), o.size, o.max_pixels), o.size);
        std::copy(pixels.begin(), pixels.end(), d.images.begin() + std::ptrdiff_t(i * bytes));
    });
    for (std::size_t k = 0; k < kept.size(); ++k) {
        if (kept[k] != k)
            std::copy_n(d.images.begin() + std::ptrdiff_t(kept[k] * bytes), bytes, d.images.begin() + std::ptrdiff_t(k * bytes));
        d.labels.push_back(files[kept[k]].label);
    }
    d.images.resize(kept.size() * bytes);
    return d;
}

// Checks every file's header, then lists the readable ones in order, undecoded.
Dataset stream_all(const std::vector<Labelled>& files, const std::vector<std::string>& classes, const FolderOptions& o,
                   const std::string& name, std::vector<std::string>& skipped) {
    Dataset d = empty_split(classes, o, name);
    const auto header_ok = [&](std::size_t i) {
        const ImageInfo info = read_image_info(files[i].file.string());
        refuse_too_many_pixels(files[i].file.string(), info.width, info.height, o.max_pixels);
    };
    for (std::size_t i : readable(files, o, skipped, header_ok)) {
        d.files.push_back(files[i].file.string());
        d.labels.push_back(files[i].label);
    }
    return d;
}

// Whether the splits' images, decoded at o.size, are kept in memory.
bool in_memory(std::size_t images, const FolderOptions& o) {
    if (o.cache != FolderCache::automatic) return o.cache == FolderCache::memory;
    const auto available = available_memory();
    return !available || std::uint64_t(images) * 3 * o.size * o.size <= *available / 4;
}

// The class folders of a split that hold at least one image (directly or under images/): an
// empty folder is no class, so 10,000 of them do not make a 10,000-class net.
std::vector<std::string> class_names(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& p : sorted_entries(dir, true))
        if (holds_image(p) || (is_folder(p / "images") && holds_image(p / "images"))) names.push_back(p.filename().string());
    return names;
}

// A class that has images in val/ or test/ but none in train/ cannot be learned: named, not dropped.
void refuse_unknown_classes(const fs::path& split, const std::vector<std::string>& classes) {
    for (const auto& c : class_names(split))
        if (!std::binary_search(classes.begin(), classes.end(), c))
            throw InputError(fmt::format("{}: class '{}' has images here but none in train/ (the net learns train's "
                                         "{} classes)",
                                         (split / c).string(), c, classes.size()));
}

}  // namespace

TrainTest load_image_folder(const std::string& dir_text, const FolderOptions& o) {
    const fs::path dir(dir_text);
    if (!is_folder(dir)) throw InputError(fmt::format("{}: no such directory of images", dir_text));
    // DIR/{train,val,test}/<class>/, or DIR/<class>/ (all training images). A folder of val/
    // or test/ alone (ImageNet's validation set downloaded by itself) evaluates; it cannot train.
    const bool has_train = is_folder(dir / "train");
    const bool splits = has_train || is_folder(dir / "val") || is_folder(dir / "test");
    const fs::path train_dir = splits ? dir / "train" : dir;
    std::vector<std::string> classes;
    if (has_train || !splits) {
        classes = class_names(train_dir);
    } else {  // the classes of whichever of val/ and test/ there are
        for (const char* split : {"val", "test"})
            if (is_folder(dir / split))
                for (const auto& c : class_names(dir / split)) classes.push_back(c);
        std::sort(classes.begin(), classes.end());
        classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    }
    if (classes.empty())
        throw InputError(fmt::format("{}: no class folders (expected {}/<class>/*.jpg|png)", train_dir.string(),
                                     train_dir.string()));
    const std::string name = "folder:" + dir_text;
    const std::vector<Labelled> train = has_train || !splits ? class_folders(train_dir, classes) : std::vector<Labelled>{};
    std::vector<Labelled> val, test;
    std::error_code ec;
    const bool annotated = fs::exists(dir / "val" / "val_annotations.txt", ec);
    if (has_train && is_folder(dir / "val") && !annotated) refuse_unknown_classes(dir / "val", classes);
    if (has_train && is_folder(dir / "test")) refuse_unknown_classes(dir / "test", classes);
    if (splits && is_folder(dir / "val"))
        val = annotated ? annotated_folder(dir / "val", classes) : class_folders(dir / "val", classes);
    if (splits && is_folder(dir / "test")) test = class_folders(dir / "test", classes);
    const bool memory = in_memory(train.size() + val.size() + test.size(), o);
    auto read = [&](const std::vector<Labelled>& files, std::vector<std::string>& skipped) {
        return memory ? decode_all(files, classes, o, name, skipped) : stream_all(files, classes, o, name, skipped);
    };
    TrainTest t;
    t.train = read(train, t.skipped);
    if (t.train.size() == 0 && (has_train || !splits))
        throw InputError(fmt::format("{}: no readable .jpg, .jpeg or .png images", train_dir.string()));
    if (!val.empty()) t.val = read(val, t.skipped);
    t.test = read(test, t.skipped);  // no test/: empty, and the test metrics stay empty
    return t;
}

}  // namespace deeper::runners::data
