#include "runners/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "nets/error.hpp"

namespace deeper::runners {

namespace {

// A temporary of this process's own: two processes (SLURM shards) or threads writing one file
// at once never write into, or rename, each other's half-written temporary.
std::string temporary_beside(const std::string& path) {
    static std::atomic<unsigned> serial{0};
    return fmt::format("{}.tmp.{}.{}", path, ::getpid(), serial++);
}

}  // namespace

void refuse_non_regular(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return;
    throw InputError(fmt::format("{}: is {}; deeper writes only regular files, and replaces nothing else", path,
                                 S_ISDIR(st.st_mode) ? "a folder" : "a device, FIFO or socket"));
}

void write_atomically(const std::string& path, const std::vector<std::string_view>& parts) {
    refuse_non_regular(path);
    const std::string tmp = temporary_beside(path);
    auto fail = [&](int fd, const char* what) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw RunError(fmt::format("{}: {} ({}); the previous file is kept", path, what, std::strerror(err)));
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) fail(-1, "cannot write");
    for (std::string_view part : parts) {
        while (!part.empty()) {
            const ssize_t w = ::write(fd, part.data(), part.size());
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail(fd, "cannot write");
            part.remove_prefix(std::size_t(w));
        }
    }
    if (::fsync(fd) != 0) fail(fd, "cannot flush to disk");
    if (::close(fd) != 0) fail(-1, "cannot flush to disk");
    if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(-1, "cannot replace");
}

}  // namespace deeper::runners
