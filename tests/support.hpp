#pragma once
// Helpers shared by the tests: running the deeper binary, temp files, comparing numbers.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace deeper::test {

struct CliResult {
    int exit_code = -1;
    std::string out;  // stdout and stderr together
};

// Runs `ENV deeper ARGS` through the shell; ENV (variable assignments) and ARGS are shell text.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
    CliResult r;
    std::string cmd = (env.empty() ? "" : env + " ") + std::string(DEEPER_BINARY) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// `deeper ARGS > LOG 2>&1` in a child process, not waited for (a test kills it, or runs
// others beside it): the child's pid, or -1 when fork failed.
inline pid_t spawn_cli(const std::string& args, const std::filesystem::path& log) {
    const std::string cmd = "exec " + std::string(DEEPER_BINARY) + " " + args + " > " + log.string() + " 2>&1";
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
        _exit(127);
    }
    return pid;
}

// Waits for a spawned child: its exit code, or -1 when a signal ended it.
inline int wait_exit(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Whether a spawned child has ended (reaped: wait_exit must not be called on it then).
inline bool has_exited(pid_t pid) {
    int status = 0;
    return waitpid(pid, &status, WNOHANG) == pid;
}

// A shell prefix for run_cli that caps the command's address space at `kib` KiB, so a test can
// show that a hostile input is refused in bounded memory. AddressSanitizer reserves terabytes of
// shadow memory up front and cannot start under such a cap: there the prefix is empty (the
// release run checks the bound).
inline std::string memory_limit(long kib) {
#if defined(__SANITIZE_ADDRESS__)
    (void)kib;
    return "";
#else
    return "ulimit -v " + std::to_string(kib) + ";";
#endif
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
public:
    explicit TempDir(const std::string& tag) {
        path_ = std::filesystem::temp_directory_path() /
                ("deeper-test-" + tag + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    std::string write(const std::string& name, const std::string& text) const {
        auto p = path_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

private:
    std::filesystem::path path_;
};

// How far apart two lists of the same numbers computed two ways are: the largest |a - b| over
// the largest |b| (at least `floor`); infinite when their lengths differ.
template <class A, class B>
double largest_relative_difference(const A& a, const B& b, double floor = 1e-6) {
    if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
    double worst = 0, scale = floor;
    for (std::size_t i = 0; i < b.size(); ++i) {
        worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return worst / scale;
}

}  // namespace deeper::test
