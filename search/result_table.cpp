#include "search/result_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "nets/error.hpp"
#include "search/input_file.hpp"
#include "search/metrics.hpp"

namespace deeper::search {

namespace {

constexpr std::uint64_t kMaxTableBytes = std::uint64_t(1) << 30;
constexpr double kMaxTableSpace = 1e7;  // configurations whose presence is checked one by one

std::vector<std::string> cells(const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    std::istringstream in(line);
    while (std::getline(in, cell, ',')) out.push_back(cell);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

}  // namespace

ResultTable ResultTable::load(const std::string& path, const SearchSpace& space, const std::vector<std::string>& wanted,
                              const std::string& where) {
    if (!space.finite())
        throw InputError(fmt::format("{}: a table answers for the configurations it lists; the space has a real range "
                                     "(uniform or log_uniform), which no table covers",
                                     where));
    const std::string text = read_input_file(path, kMaxTableBytes, "table");
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line)) throw InputError(fmt::format("{}: {} is empty", where, path));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> header = cells(line);
    std::vector<int> dim_column(space.dims(), -1);
    for (std::size_t d = 0; d < space.dims(); ++d) {
        const auto it = std::find(header.begin(), header.end(), space.name(d));
        if (it == header.end())
            throw InputError(fmt::format("{}: {} has no column '{}' for the space's dimension (its columns: {})", where,
                                         path, space.name(d), line));
        dim_column[d] = int(it - header.begin());
    }
    ResultTable t;
    std::vector<int> metric_column;
    for (std::size_t c = 0; c < header.size(); ++c) {
        if (std::find(dim_column.begin(), dim_column.end(), int(c)) != dim_column.end()) continue;
        if (!find_metric(header[c]) && std::find(wanted.begin(), wanted.end(), header[c]) == wanted.end()) continue;
        metric_column.push_back(int(c));
        t.metric_names_.push_back(header[c]);
    }
    for (const auto& w : wanted)
        if (!t.has_metric(w))
            throw InputError(fmt::format("{}: {} has no column '{}' (its columns: {})", where, path, w, line));
    std::size_t line_no = 1;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (line.find('"') != std::string::npos)
            throw InputError(fmt::format("{}:{}: quoted CSV cells are not read; write plain cells", path, line_no));
        const std::vector<std::string> row = cells(line);
        if (row.size() != header.size())
            throw InputError(fmt::format("{}:{}: {} cells, the header has {}", path, line_no, row.size(), header.size()));
        Settings s;
        for (std::size_t d = 0; d < space.dims(); ++d) s[space.name(d)] = row[std::size_t(dim_column[d])];
        const auto p = space.point_of(s);
        if (!p) continue;  // a configuration outside the space (a search over a subspace)
        Metrics m;
        for (std::size_t k = 0; k < metric_column.size(); ++k) {
            const std::string& cell = row[std::size_t(metric_column[k])];
            double v = NAN;
            try {
                std::size_t used = 0;
                v = std::stod(cell, &used);
                if (used != cell.size()) v = NAN;
            } catch (const std::exception&) {
            }
            if (!std::isfinite(v))
                throw InputError(fmt::format("{}:{}: column '{}': expected a number, got '{}'", path, line_no,
                                             t.metric_names_[k], cell));
            m[t.metric_names_[k]] = v;
        }
        t.rows_[space.key(*p)].push_back(std::move(m));
        ++t.row_count_;
    }
    if (space.size() > kMaxTableSpace)
        throw InputError(fmt::format("{}: the space has {:.0f} configurations; a table evaluator takes at most {:.0f}", where,
                                     space.size(), kMaxTableSpace));
    for (std::uint64_t i = 0; i < std::uint64_t(space.size()); ++i) {
        const std::string key = space.key(space.nth(i));
        if (!t.rows_.count(key))
            throw InputError(fmt::format("{}: {} has no row for {}, a configuration the space can propose ({} of the "
                                         "space's {:.0f} are there)",
                                         where, path, key, t.rows_.size(), space.size()));
    }
    for (const auto& [key, rows] : t.rows_) {
        Metrics mean;
        for (const auto& m : rows)
            for (const auto& [k, v] : m) mean[k] += v / double(rows.size());
        t.means_[key] = std::move(mean);
    }
    return t;
}

bool ResultTable::has_metric(const std::string& name) const {
    return std::find(metric_names_.begin(), metric_names_.end(), name) != metric_names_.end();
}

const Metrics& ResultTable::query(const std::string& key, Rng& rng) const {
    const auto& rows = rows_.at(key);
    return rows[rng() % rows.size()];
}

const Metrics& ResultTable::mean(const std::string& key) const { return means_.at(key); }

ResultTable load_stage_table(const Experiment& e, const Stage& s) {
    const SearchSpec& x = s.search;
    std::vector<std::string> wanted;
    // latency_ms and throughput may come from the table; if not, they are timed on this machine (search_runner)
    auto want = [&](const std::string& m) {
        if (m != "reward" && !timed_on_this_machine(m) && std::find(wanted.begin(), wanted.end(), m) == wanted.end())
            wanted.push_back(m);
    };
    for (const auto& o : x.objectives) want(o.metric);
    if (x.reward) want(x.reward->metric), want(x.reward->cost);
    for (const auto& [m, bound] : x.constraints) want(m);
    return ResultTable::load(x.table, SearchSpace(x.space), wanted,
                             fmt::format("{}:{}:{}: stage '{}': table", e.path, x.table_line, x.table_column, s.name));
}

}  // namespace deeper::search
