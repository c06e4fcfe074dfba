#pragma once
// A table of published results that a search queries instead of training (NAS-Bench-Macro,
// NAS-Bench-201 and their like): a CSV with one column per dimension of the space, holding the
// values the space names, and numeric metric columns. Several rows of one configuration are its
// seeds: a query draws one of them, as tabular benchmarks are queried; the mean over them is the
// configuration's true value, which scores a search.
#include <map>
#include <string>
#include <vector>

#include "search/space.hpp"

namespace deeper::search {

using Metrics = std::map<std::string, double>;

class ResultTable {
public:
    // Its metrics are the columns named by `wanted` (a search's objectives and constraints) and
    // the other columns deeper knows as metrics (search/metrics.hpp); other columns are labels.
    // Throws InputError "where: ..." for an unreadable or malformed file, a dimension or a wanted
    // metric without a column, a space that is not finite, and the first configuration of the
    // space the table lacks.
    static ResultTable load(const std::string& path, const SearchSpace& space, const std::vector<std::string>& wanted,
                            const std::string& where);

    bool has_metric(const std::string& name) const;
    // One row of the configuration (SearchSpace::key), drawn with rng.
    const Metrics& query(const std::string& key, Rng& rng) const;
    // The mean of its rows.
    const Metrics& mean(const std::string& key) const;
    std::size_t configurations() const { return rows_.size(); }
    std::size_t row_count() const { return row_count_; }
    // Every configuration's key and mean.
    const std::map<std::string, Metrics>& means() const { return means_; }

private:
    std::vector<std::string> metric_names_;
    std::map<std::string, std::vector<Metrics>> rows_;
    std::map<std::string, Metrics> means_;
    std::size_t row_count_ = 0;
};

// The table of a search stage: its space's columns, and the metrics its objectives, reward and
// constraints name; errors say where the stage names the table (file:line:column).
ResultTable load_stage_table(const Experiment& e, const Stage& s);

}  // namespace deeper::search
