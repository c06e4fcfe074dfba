// What survives faults: torn journal tails, corrupt journal lines, full disks and file size
// limits. Each fault is injected for real (a truncated file, a tmpfs that fills, RLIMIT_FSIZE).
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "runners/experiment/journal.hpp"
#include "support.hpp"

using namespace deeper::runners;
using deeper::test::run_cli;
using deeper::test::slurp;
using deeper::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kStart = R"({"event":"start","trial":"t1","stage":"s","seed":1,"settings":{"net":"resnet8"},"time":1})";
const char* kEpoch = R"({"event":"epoch","trial":"t1","metrics":{"epoch":1,"val_top1":0.5},"time":2})";

std::size_t count_lines(const std::string& text) { return std::size_t(std::count(text.begin(), text.end(), '\n')); }

// Whether an atomic write left its temporary (NAME.tmp.PID.N) behind in `dir`.
bool holds_temporary(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("a torn journal tail is cut before the next append, the rest kept", "[journal]") {
    TempDir dir("torn");
    fs::create_directories(dir.path() / "journal");
    const std::string torn = std::string(kStart) + "\n" + kEpoch + "\n" + R"({"event":"done","tri)";
    dir.write("journal/local.jsonl", torn);
    {
        Journal j(dir.path().string(), "local");
        j.append({{"event", "done"}, {"trial", "t1"}, {"result", {{"test_top1", 0.6}}}});
    }
    const std::string text = slurp(dir.path() / "journal" / "local.jsonl");
    CHECK(count_lines(text) == 3);
    CHECK(text.find("\"tri\n") == std::string::npos);
    const auto records = read_journals(dir.path().string());
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == "done");
    CHECK(records[0].epochs.size() == 1);

    // A last line that is whole JSON but lost its newline is ended, not cut.
    dir.write("journal/local.jsonl", std::string(kStart) + "\n" + kEpoch);
    { Journal j(dir.path().string(), "local"); }
    CHECK(slurp(dir.path() / "journal" / "local.jsonl") == std::string(kStart) + "\n" + kEpoch + "\n");
}

TEST_CASE("a corrupt journal line in the middle names the line and the way out", "[journal][cli]") {
    TempDir dir("corrupt");
    fs::create_directories(dir.path() / "journal");
    dir.write("journal/local.jsonl", std::string(kStart) + "\n{garbage\n" + kEpoch + "\n");
    try {
        read_journals(dir.path().string());
        FAIL("no error");
    } catch (const deeper::InputError& e) {
        CHECK_THAT(e.what(), Catch::Contains("local.jsonl:2: corrupt journal line") &&
                                 Catch::Contains("deeper report --repair"));
    }
    auto r = run_cli("report " + dir.path().string());
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("--repair"));
    auto fixed = run_cli("report --repair " + dir.path().string());
    INFO(fixed.out);
    CHECK(fixed.exit_code == 0);
    CHECK_THAT(fixed.out, Catch::Contains("1 corrupt journal line(s) set aside"));
    CHECK(slurp(dir.path() / "journal" / "local.jsonl.corrupt") == "{garbage\n");
    const auto records = read_journals(dir.path().string());
    REQUIRE(records.size() == 1);
    CHECK(records[0].epochs.size() == 1);
    CHECK(fs::exists(dir.path() / "results.csv"));
}

TEST_CASE("a write that hits the file size limit keeps the old file and says why", "[atomic]") {
    TempDir dir("fsize");
    const std::string path = (dir.path() / "results.csv").string();
    write_atomically(path, "old\n");
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit before{};
    getrlimit(RLIMIT_FSIZE, &before);
    rlimit small = before;
    small.rlim_cur = 4096;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string error;
    try {
        write_atomically(path, std::string(100000, 'x'));
    } catch (const deeper::RunError& e) {
        error = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &before);
    CHECK_THAT(error, Catch::Contains(path) && Catch::Contains("File too large") &&
                          Catch::Contains("previous file is kept"));
    CHECK(slurp(path) == "old\n");
    CHECK_FALSE(holds_temporary(fs::path(path).parent_path()));
}

TEST_CASE("a full disk: report keeps the good results.csv and exits 1 with the OS error", "[atomic][cli]") {
    if (::geteuid() != 0) {
        WARN("skipped: mounting a small tmpfs needs root");
        return;
    }
    TempDir dir("full-disk");
    const fs::path mnt = dir.path() / "tmpfs";
    fs::create_directories(mnt);
    REQUIRE(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") == 0);
    fs::create_directories(mnt / "journal");
    std::string journal = std::string(kStart) + "\n";
    for (int e = 1; e <= 40; ++e)  // long enough that the reports overflow what is left
        journal += R"({"event":"epoch","trial":"t1","metrics":{"epoch":)" + std::to_string(e) +
                   R"(,"val_top1":0.5,"train_loss":1.25,"val_loss":1.5},"time":)" + std::to_string(e + 1) + "}\n";
    journal += R"({"event":"done","trial":"t1","result":{"test_top1":0.6},"time":100})" "\n";
    { std::ofstream(mnt / "journal" / "local.jsonl") << journal; }
    { std::ofstream(mnt / "results.csv") << "good\n"; }
    // fill the rest of the filesystem
    { std::ofstream fill(mnt / "fill", std::ios::binary); std::string block(1024, 'f'); while (fill << block && fill.flush()) {} }
    auto r = run_cli("report " + mnt.string());
    const std::string results = slurp(mnt / "results.csv");
    const bool tmp_left = holds_temporary(mnt);
    ::umount(mnt.c_str());
    INFO(r.out);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::Contains("No space left on device") && !Catch::Contains("wrote"));
    CHECK(results == "good\n");
    CHECK_FALSE(tmp_left);
}
