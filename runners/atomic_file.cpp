#include "runners/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "nets/error.hpp"

namespace deeper::runners {

void write_atomically(const std::string& path, const std::vector<std::string_view>& parts) {
    const std::string tmp = path + ".tmp";
    auto fail = [&](int fd, const char* what) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw RunError(fmt::format("{}: {} ({}); the previous file is kept", path, what, std::strerror(err)));
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
