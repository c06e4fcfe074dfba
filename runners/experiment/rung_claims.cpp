#include "runners/experiment/rung_claims.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "runners/folder_lock.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;

RungClaims::RungClaims(std::string results_dir, const std::string& stage, std::string shard)
    : dir_((fs::path(results_dir) / "journal" / "claims" / stage).string()),
      results_dir_(std::move(results_dir)),
      shard_(std::move(shard)) {
    fs::create_directories(dir_);
}

RungClaims::Guard::Guard(const std::string& lock_path) {
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw RunError(fmt::format("{}: cannot open the claims lock ({})", lock_path, std::strerror(errno)));
    while (::flock(fd_, LOCK_EX) != 0)
        if (errno != EINTR) throw RunError(fmt::format("{}: cannot lock ({})", lock_path, std::strerror(errno)));
}

RungClaims::Guard::~Guard() {
    if (fd_ >= 0) ::close(fd_);
}

RungClaims::Guard RungClaims::lock() const { return Guard(lock_path()); }

std::string RungClaims::lock_path() const { return (fs::path(dir_) / ".lock").string(); }

std::map<std::pair<std::string, int>, std::string> RungClaims::read() const {
    std::map<std::pair<std::string, int>, std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
        const std::string name = e.path().filename().string();
        const auto dot = name.rfind(".rung");
        if (dot == std::string::npos) continue;  // the lock, or a temporary of an atomic write
        int rung = -1;
        try {
            std::size_t used = 0;
            rung = std::stoi(name.substr(dot + 5), &used);
            if (used != name.size() - dot - 5) continue;
        } catch (...) {
            continue;
        }
        std::ifstream in(e.path());
        std::string owner;
        std::getline(in, owner);
        out[{name.substr(0, dot), rung}] = owner;
    }
    return out;
}

void RungClaims::claim(const std::string& trial, int rung) const {
    write_atomically((fs::path(dir_) / fmt::format("{}.rung{}", trial, rung)).string(), shard_ + "\n");
}

bool RungClaims::alive(const std::string& shard) const {
    return shard == shard_ || FolderLock::held((fs::path(results_dir_) / "journal" / (shard + ".lock")).string());
}

}  // namespace deeper::runners
