#include "runners/experiment/journal.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "runners/json.hpp"
#include "runners/table.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;

namespace {

bool parses(const std::string& line) {
    try {
        parse_json(line);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

// A journal whose last line was torn (a kill or a full disk mid-append) would have the next
// event appended onto it, corrupting a line in the middle. Before appending, the torn line is
// cut off (it never parsed, so no reader counted it), or ended when it is whole JSON.
void mend_tail(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

void Journal::append(const std::string& obj) {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string line = obj;
    line.insert(line.size() - 1, fmt::format("{}\"time\":{:.3f}", obj.size() > 2 ? "," : "", now));
    std::lock_guard lock(m_);
    if (std::fputs((line + "\n").c_str(), f_) < 0 || std::fflush(f_) != 0)
        throw RunError(fmt::format("{}: cannot append to the journal", path_));
    ::fdatasync(fileno(f_));
}

std::string json_number(double v) {
    if (!std::isfinite(v)) return "null";
    return fmt::format("{}", v);
}

std::string json_object(const std::map<std::string, std::string>& m) {
    std::string s = "{";
    for (const auto& [k, v] : m) s += (s.size() > 1 ? "," : "") + json_string(k) + ":" + json_string(v);
    return s + "}";
}

namespace {

std::vector<fs::path> journal_files(const std::string& results_dir) {
    std::vector<fs::path> files;
    const fs::path dir = fs::path(results_dir) / "journal";
    if (!fs::is_directory(dir)) return files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".jsonl") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<std::string> read_lines(const fs::path& f) {
    std::ifstream in(f);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
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
        Json j;
    };
    std::vector<Event> events;
    for (const auto& f : files) {
        const std::vector<std::string> lines = read_lines(f);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (lines[i].empty()) continue;
            try {
                Json j = parse_json(lines[i]);
                events.push_back({j.num("time"), std::move(j)});
            } catch (const std::runtime_error& e) {
                if (i + 1 == lines.size()) break;  // torn last line: the writer died mid-line
                throw InputError(fmt::format(
                    "{}:{}: corrupt journal line: {}; `deeper report --repair {}` sets such lines aside "
                    "(into {}.corrupt) and keeps the rest",
                    f.string(), i + 1, e.what(), results_dir, f.filename().string()));
            }
        }
    }
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
    for (const auto& [time, j] : events) {
        const std::string id = j.str("trial");
        if (id.empty()) continue;
        auto [it, fresh] = index.emplace(id, records.size());
        if (fresh) records.push_back(TrialRecord{id});
        TrialRecord& r = records[it->second];
        const std::string ev = j.str("event");
        if (ev == "start") {
            r.stage = j.str("stage");
            r.status = "running";
            r.seed = j.num("seed");
            if (const Json* s = j.get("settings"))
                for (const auto& [k, v] : s->fields) r.settings[k] = v.text;
            if (const Json* s = j.get("labels"))
                for (const auto& [k, v] : s->fields) r.labels[k] = v.text;
            r.swept.clear();
            if (const Json* s = j.get("swept"))
                for (const auto& v : s->items) r.swept.push_back(v.text);
            // A resumed trial restarts after its checkpoint's epoch: later epochs come again.
            const std::size_t keep = std::size_t(j.num("resume_epoch", 0));
            if (r.epochs.size() > keep) r.epochs.resize(keep);
            r.result.clear();
            r.info.clear();
        } else if (ev == "epoch") {
            std::map<std::string, double> m;
            if (const Json* s = j.get("metrics"))
                for (const auto& [k, v] : s->fields) m[k] = v.kind == Json::number ? v.value : NAN;
            const std::size_t epoch = std::size_t(m["epoch"]);
            if (epoch >= 1 && epoch <= r.epochs.size()) r.epochs.resize(epoch - 1);
            r.epochs.push_back(m);
        } else if (ev == "done" || ev == "failed" || ev == "interrupted") {
            r.status = ev;
            if (const Json* s = j.get("result"))
                for (const auto& [k, v] : s->fields) {
                    if (v.kind == Json::number) r.result[k] = v.value;
                    else if (v.kind == Json::string) r.info[k] = v.text;
                }
            if (ev == "failed") r.info["error"] = j.str("error");
        }
    }
    return records;
}

}  // namespace deeper::runners
