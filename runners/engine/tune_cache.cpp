#include "runners/engine/tune_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nets/error.hpp"
#include "runners/engine/engine.hpp"
#include "search/fnv_hash.hpp"
#include "search/input_file.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The first value of a /proc/cpuinfo field ("model name", "cpu family"), or "?".
std::string cpuinfo_field(const std::string& text, const std::string& field) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) != 0) continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos || line.find_first_not_of(" \t", field.size()) != colon) continue;
        const auto start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? "?" : line.substr(start);
    }
    return "?";
}

// Bumped when the engine's own kernels change speed (the depthwise weight gradient went
// vectorized, the batch-norm kernels took in the ReLU6 and swish: revision 2): a cache
// measured with other code is another machine's.
constexpr int engine_kernels_revision = 2;

}  // namespace

std::string machine_key() {
    std::ifstream f("/proc/cpuinfo");
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const dnnl_version_t* v = dnnl_version();
    return fmt::format("{} (family {} model {} stepping {}), isa {}, oneDNN {}.{}.{}, engine kernels r{}",
                       cpuinfo_field(text, "model name"), cpuinfo_field(text, "cpu family"), cpuinfo_field(text, "model"),
                       cpuinfo_field(text, "stepping"), cpu_isa_name(), v->major, v->minor, v->patch,
                       engine_kernels_revision);
}

std::string default_tune_cache_folder() {
    if (const char* d = std::getenv("DEEPER_TUNE_CACHE"); d && *d) return d;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "deeper" / "tune").string();
    if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "deeper" / "tune").string();
    return "";
}

TuneCache::TuneCache(std::string folder, Note note) : machine_(machine_key()), note_(std::move(note)) {
    if (folder.empty()) folder = default_tune_cache_folder();
    if (!folder.empty()) path_ = (fs::path(folder) / (fmt::format("{:016x}", search::fnv1a(machine_)) + ".jsonl")).string();
    if (!path_.empty()) {
        std::error_code ec;
        fs::create_directories(fs::path(path_).parent_path(), ec);
        lock_fd_ = ::open((path_ + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_EX) != 0) {
            ::close(lock_fd_);
            lock_fd_ = -1;
        }
    }
    load();
}

TuneCache::~TuneCache() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

void TuneCache::load() {
    if (path_.empty()) return;
    std::error_code ec;
    if (!fs::exists(path_, ec)) return;
    std::string text;
    try {
        text = search::read_input_file(path_, search::kMaxTextFileBytes, "tune cache");
    } catch (const InputError& e) {
        if (note_) note_(fmt::format("tune cache ignored: {}", e.what()));
        return;
    }
    std::istringstream in(text);
    std::string line;
    int bad = 0, first_bad = 0;
    for (int n = 1; std::getline(in, line); ++n) {
        try {
            const json j = json::parse(line);
            if (n == 1) {
                if (j.at("machine").get<std::string>() != machine_) {
                    if (note_)
                        note_(fmt::format("tune cache {} was measured on another machine ({}): ignored", path_,
                                          j.at("machine").get<std::string>()));
                    ms_.clear();
                    return;
                }
                continue;
            }
            const double ms = j.at("ms").get<double>();
            if (!std::isfinite(ms) || ms < 0) throw std::runtime_error("not a time");
            ms_[j.at("key").get<std::string>()] = ms;  // the last measurement stands (--tune force)
        } catch (const std::exception&) {
            if (n == 1) {
                if (note_) note_(fmt::format("tune cache {}: line 1 names no machine: ignored", path_));
                return;
            }
            if (bad++ == 0) first_bad = n;
        }
    }
    if (bad && note_)
        note_(fmt::format("tune cache {}: {} line(s) that are not measurements ignored (the first: line {})", path_,
                          bad, first_bad));
}

std::optional<double> TuneCache::find(const std::string& key) const {
    auto it = ms_.find(key);
    if (it == ms_.end()) return std::nullopt;
    return it->second;
}

void TuneCache::record(const std::string& key, double ms) {
    ms_[key] = ms;
    if (path_.empty() || write_failed_) return;
    auto fail = [&](const std::string& why) {
        write_failed_ = true;
        if (note_) note_(fmt::format("tune cache {} not written ({}): the next compile measures again", path_, why));
    };
    std::error_code ec;
    fs::create_directories(fs::path(path_).parent_path(), ec);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return fail(std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail("not a regular file");
    }
    std::string text;
    if (::fstat(fd, &st) == 0 && st.st_size == 0) text = json{{"machine", machine_}}.dump() + "\n";
    text += json{{"key", key}, {"ms", ms}}.dump() + "\n";
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int err = errno;
    ::close(fd);
    if (n != ssize_t(text.size())) fail(n < 0 ? std::strerror(err) : "a short write");
}

}  // namespace deeper::runners
