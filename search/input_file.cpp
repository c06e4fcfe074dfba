#include "search/input_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nets/error.hpp"

namespace deeper::search {

namespace {

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string bytes_text(std::uint64_t n) {
    if (n >= (std::uint64_t(1) << 30)) return fmt::format("{:.1f} GiB", double(n) / double(std::uint64_t(1) << 30));
    if (n >= (std::uint64_t(1) << 20)) return fmt::format("{:.1f} MiB", double(n) / double(1 << 20));
    return fmt::format("{} bytes", n);
}

std::uint64_t checked_size(const std::string& path, const struct stat& st, std::uint64_t max_bytes,
                           std::string_view what) {
    if (!S_ISREG(st.st_mode))
        throw InputError(fmt::format("{}: is {}, not a {} file", path, kind_of(st.st_mode), what));
    const auto size = std::uint64_t(st.st_size);
    if (size > max_bytes)
        throw InputError(fmt::format("{}: {} is larger than a {} file may be ({})", path, bytes_text(size), what,
                                     bytes_text(max_bytes)));
    return size;
}

[[noreturn]] void cannot_open(const std::string& path, std::string_view what, int err) {
    throw InputError(fmt::format("{}: cannot open the {} file ({})", path, what, std::strerror(err)));
}

}  // namespace

std::uint64_t input_file_size(const std::string& path, std::uint64_t max_bytes, std::string_view what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) cannot_open(path, what, errno);
    return checked_size(path, st, max_bytes, what);
}

std::string read_input_file(const std::string& path, std::uint64_t max_bytes, std::string_view what) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) cannot_open(path, what, errno);
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) cannot_open(path, what, errno);
    const std::uint64_t size = checked_size(path, st, max_bytes, what);
    std::string text(size, '\0');
    std::size_t got = 0;
    while (got < size) {  // a file that shrinks while read ends early; one that grows is cut at its size
        const ssize_t n = ::read(fd, text.data() + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw InputError(fmt::format("{}: cannot read the {} file ({})", path, what, std::strerror(errno)));
        if (n == 0) break;
        got += std::size_t(n);
    }
    text.resize(got);
    return text;
}

}  // namespace deeper::search
