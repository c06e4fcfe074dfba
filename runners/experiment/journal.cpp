#include "runners/experiment/journal.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "search/input_file.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// What a journal file may weigh (a million trial-epochs take about 300 MB).
constexpr std::uint64_t kMaxJournalBytes = std::uint64_t(2) << 30;

// Every event deeper writes; a line with another is named, not dropped.
const std::set<std::string> kJournalEvents = {"start",  "epoch",       "rung",          "promote", "stopped",
                                              "done",   "failed",      "interrupted",   "stage_skipped",
                                              "propose", "infeasible", "query"};

// An event line: one JSON object. Throws (json::exception or runtime_error) for anything else.
json parse_event(const std::string& line) {
    json j = json::parse(line);
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    return j;
}

bool parses(const std::string& line) {
    try {
        parse_event(line);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

// A journal whose last line was torn (a kill or a full disk mid-append) would have the next
// event appended onto it, corrupting a line in the middle. Before appending, the torn line is
// cut off (it never parsed, so no reader counted it), or ended when it is whole JSON.
void mend_tail(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) return;
    const std::string text = search::read_input_file(path, kMaxJournalBytes, "journal");
    if (text.empty() || text.back() == '\n') return;
    const std::size_t cut = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    const std::string tail = text.substr(cut);
    if (parses(tail)) {
        std::ofstream(path, std::ios::app) << '\n';
    } else {
        fs::resize_file(path, cut);
        std::fprintf(stderr, "%s: cut a torn last line (%zu bytes) left by an interrupted write\n",
                     path.c_str(), tail.size());
    }
}

}  // namespace

Journal::Journal(const std::string& results_dir, const std::string& shard) {
    fs::create_directories(fs::path(results_dir) / "journal");
    path_ = (fs::path(results_dir) / "journal" / (shard + ".jsonl")).string();
    mend_tail(path_);
    f_ = std::fopen(path_.c_str(), "a");
    if (!f_) throw RunError(fmt::format("{}: cannot open the journal for appending", path_));
}

Journal::~Journal() {
    if (f_) std::fclose(f_);
}

void Journal::append(nlohmann::ordered_json event, bool durable) {
    event["time"] = std::round(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() * 1000) / 1000;
    // replace: an error message may quote a file name that is not UTF-8
    const std::string line = event.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    std::lock_guard lock(m_);
    if (std::fputs(line.c_str(), f_) < 0 || std::fflush(f_) != 0)
        throw RunError(fmt::format("{}: cannot append to the journal", path_));
    if (durable) ::fdatasync(fileno(f_));
}

void Journal::sync() {
    std::lock_guard lock(m_);
    ::fdatasync(fileno(f_));
}

namespace {

std::vector<fs::path> journal_files(const std::string& results_dir) {
    std::vector<fs::path> files;
    const fs::path dir = fs::path(results_dir) / "journal";
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        if (ec && ec != std::errc::no_such_file_or_directory)
            throw InputError(fmt::format("{}: cannot read the journal folder ({})", dir.string(), ec.message()));
        return files;
    }
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().extension() == ".jsonl") files.push_back(it->path());
    if (ec) throw InputError(fmt::format("{}: cannot read the journal folder ({})", dir.string(), ec.message()));
    std::sort(files.begin(), files.end());
    return files;
}

// A journal file's lines; a journal is a regular file of at most kMaxJournalBytes (a sparse
// 4 GB file or a link to /dev/zero is refused by name, not read into memory).
std::vector<std::string> read_lines(const fs::path& f) {
    const std::string text = search::read_input_file(f.string(), kMaxJournalBytes, "journal");
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

}  // namespace

std::size_t repair_journals(const std::string& results_dir) {
    std::size_t set_aside = 0;
    for (const auto& f : journal_files(results_dir)) {
        std::string keep, bad;
        for (const auto& line : read_lines(f)) {
            if (line.empty()) continue;
            (parses(line) ? keep : bad) += line + "\n";
        }
        if (bad.empty()) continue;
        const std::string aside = f.string() + ".corrupt";
        std::ofstream out(aside, std::ios::app);
        out << bad << std::flush;
        if (!out) throw RunError(fmt::format("{}: cannot set the corrupt lines aside; the journal is unchanged", aside));
        write_atomically(f.string(), keep);
        set_aside += std::size_t(std::count(bad.begin(), bad.end(), '\n'));
    }
    return set_aside;
}

std::vector<TrialRecord> read_journals(const std::string& results_dir) {
    std::vector<TrialRecord> records;
    std::map<std::string, std::size_t> index;
    const std::vector<fs::path> files = journal_files(results_dir);
    // Events from all shards, ordered by time, so a trial requeued on another shard reads right.
    struct Event {
        double time;
        json j;
        std::string where;  // file:line, for a message about it
    };
    std::vector<Event> events;
    for (const auto& f : files) {
        const std::vector<std::string> lines = read_lines(f);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (lines[i].empty()) continue;
            try {
                json j = parse_event(lines[i]);
                const double time = j.value("time", 0.0);
                events.push_back({time, std::move(j), fmt::format("{}:{}", f.string(), i + 1)});
            } catch (const std::exception& e) {
                if (i + 1 == lines.size()) break;  // torn last line: the writer died mid-line
                throw InputError(fmt::format(
                    "{}:{}: corrupt journal line: {}; `deeper report --repair {}` sets such lines aside "
                    "(into {}.corrupt) and keeps the rest",
                    f.string(), i + 1, e.what(), results_dir, f.filename().string()));
            }
        }
    }
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
    // Fields read leniently: a value of another type than expected reads as missing.
    auto text = [](const json& j, const char* key) {
        const auto it = j.find(key);
        return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto number = [](const json& j, const char* key, double fallback) {
        const auto it = j.find(key);
        return it != j.end() && it->is_number() ? it->get<double>() : fallback;
    };
    auto strings = [](const json& j, const char* key) {
        std::map<std::string, std::string> m;
        if (const auto it = j.find(key); it != j.end() && it->is_object())
            for (const auto& [k, v] : it->items())
                if (v.is_string()) m[k] = v.get<std::string>();
        return m;
    };
    for (const auto& [time, j, where] : events) {
        const std::string ev = text(j, "event");
        if (!kJournalEvents.count(ev))
            throw InputError(fmt::format("{}: unknown journal event '{}' (written by a newer deeper?); known: {}", where,
                                         ev, fmt::join(kJournalEvents, ", ")));
        const std::string id = text(j, "trial");
        if (id.empty()) continue;
        auto [it, fresh] = index.emplace(id, records.size());
        if (fresh) records.emplace_back().id = id;
        TrialRecord& r = records[it->second];
        if (time > 0) {
            r.first_time = r.first_time > 0 ? std::min(r.first_time, time) : time;
            r.last_time = std::max(r.last_time, time);
        }
        if (r.first_report == 0 && (ev == "rung" || ev == "done" || ev == "failed" || ev == "query" || ev == "infeasible"))
            r.first_report = time > 0 ? time : 1;
        // What a start or a search's proposal says the trial is.
        auto read_identity = [&] {
            r.stage = text(j, "stage");
            r.settings = strings(j, "settings");
            r.labels = strings(j, "labels");
            r.swept.clear();
            if (const auto s = j.find("swept"); s != j.end() && s->is_array())
                for (const auto& v : *s)
                    if (v.is_string()) r.swept.push_back(v.get<std::string>());
        };
        if (ev == "propose" || ev == "infeasible" || ev == "query") {  // a search's proposals (search_runner.hpp)
            read_identity();
            if (r.swept.empty())
                for (const auto& [k, v] : r.settings) r.swept.push_back(k);
            r.status = ev == "propose" ? "proposed" : ev == "infeasible" ? "infeasible" : "done";
            if (const auto s = j.find("result"); s != j.end() && s->is_object())
                for (const auto& [k, v] : s->items())
                    if (v.is_number()) r.result[k] = v.get<double>();
            if (ev == "infeasible") r.info["reason"] = text(j, "reason");
        } else if (ev == "start") {
            read_identity();
            r.status = "running";
            r.seed = number(j, "seed", 0);
            // A resumed trial restarts after its checkpoint's epoch: later epochs come again.
            const std::size_t keep = std::size_t(std::max(0.0, number(j, "resume_epoch", 0)));
            if (r.epochs.size() > keep) r.epochs.resize(keep);
            // what a search timed at the proposal (latency_*, throughput*) stays: no run redoes it
            std::erase_if(r.result, [](const auto& kv) {
                return kv.first.rfind("latency_", 0) != 0 && kv.first.rfind("throughput", 0) != 0;
            });
            r.info.clear();
        } else if (ev == "epoch") {
            std::map<std::string, double> m;
            if (const auto s = j.find("metrics"); s != j.end() && s->is_object())
                for (const auto& [k, v] : s->items()) m[k] = v.is_number() ? v.get<double>() : NAN;
            const std::size_t epoch = std::size_t(std::max(0.0, m["epoch"]));
            if (epoch >= 1 && epoch <= r.epochs.size()) r.epochs.resize(epoch - 1);
            r.epochs.push_back(m);
        } else if (ev == "rung") {
            r.status = "paused";
            r.rungs.push_back({int(number(j, "rung", 0)), number(j, "metric", NAN)});
        } else if (ev == "promote") {
            r.promoted_to = std::max(r.promoted_to, int(number(j, "rung", 0)));
        } else if (ev == "stopped") {
            r.status = "stopped";
            r.info["rung"] = std::to_string(int(number(j, "rung", 0)));
        } else if (ev == "done" || ev == "failed" || ev == "interrupted") {
            r.status = ev;
            if (const auto s = j.find("result"); s != j.end() && s->is_object())
                for (const auto& [k, v] : s->items()) {
                    if (v.is_number()) r.result[k] = v.get<double>();
                    else if (v.is_string()) r.info[k] = v.get<std::string>();
                }
            if (ev == "failed") r.info["error"] = text(j, "error");
        }
    }
    return records;
}

}  // namespace deeper::runners
