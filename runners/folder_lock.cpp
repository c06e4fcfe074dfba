#include "runners/folder_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "nets/error.hpp"

namespace deeper::runners {

namespace {

std::string holder(int fd) {
    char buf[128] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string s = n > 0 ? std::string(buf, std::size_t(n)) : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? "another process" : s;
}

// The whole file, exclusively.
struct flock whole_file(short type) {
    struct flock l {};
    l.l_type = type;
    l.l_whence = SEEK_SET;
    return l;
}

}  // namespace

FolderLock::FolderLock(const std::string& lock_path, const std::string& what) {
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw InputError(fmt::format("{}: cannot create the lock file ({})", lock_path, std::strerror(errno)));
    struct flock l = whole_file(F_WRLCK);
    if (::fcntl(fd_, F_OFD_SETLK, &l) != 0) {
        const std::string who = holder(fd_);
        ::close(fd_);
        fd_ = -1;
        throw InputError(fmt::format("{} is being written by {} (lock {}); wait for it to finish, "
                                     "or write elsewhere",
                                     what, who, lock_path));
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    const std::string me = fmt::format("deeper pid {} on {}\n", ::getpid(), host);
    // who holds it, for the message a second writer gets (a courtesy: failures are ignored)
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0) return;
}

FolderLock::~FolderLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
}

bool FolderLock::held(const std::string& lock_path) {
    const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct flock l = whole_file(F_WRLCK);  // would a writer's lock conflict with one held?
    const bool busy = ::fcntl(fd, F_OFD_GETLK, &l) == 0 && l.l_type != F_UNLCK;
    ::close(fd);
    return busy;
}

}  // namespace deeper::runners
