#include "runners/table.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

#include "nets/error.hpp"

namespace deeper::runners {

Format parse_format(std::string_view s) {
    if (s == "table") return Format::table;
    if (s == "csv") return Format::csv;
    if (s == "md" || s == "markdown") return Format::md;
    if (s == "json") return Format::json;
    throw InputError(fmt::format("unknown format '{}' (expected table, csv, md or json)", s));
}

void Table::add_column(std::string name, bool is_numeric) {
    columns.push_back(std::move(name));
    numeric.push_back(is_numeric);
}

void Table::add_row(std::vector<std::string> cells) {
    if (cells.size() != columns.size())
        throw std::logic_error(fmt::format("row of {} cells in a table of {} columns",
                                           cells.size(), columns.size()));
    rows.push_back(std::move(cells));
}

std::string csv_field(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

std::string with_thousands(std::int64_t v) {
    std::string digits = std::to_string(v < 0 ? -v : v), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return v < 0 ? "-" + out : out;
}

namespace {

// Characters on screen: UTF-8 continuation bytes take no column ("±" is two bytes, one column).
size_t display_width(const std::string& s) {
    return size_t(std::count_if(s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

std::string render_aligned(const Table& t, bool markdown) {
    std::vector<size_t> w(t.columns.size());
    for (size_t c = 0; c < t.columns.size(); ++c) {
        w[c] = display_width(t.columns[c]);
        for (const auto& r : t.rows) w[c] = std::max(w[c], display_width(r[c]));
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string s = markdown ? "|" : "";
        for (size_t c = 0; c < cells.size(); ++c) {
            if (markdown) s += ' ';
            else if (c) s += "  ";
            const size_t pad = w[c] - display_width(cells[c]);
            if (t.numeric[c]) s += std::string(pad, ' ') + cells[c];
            else s += cells[c] + std::string(c + 1 == cells.size() && !markdown ? 0 : pad, ' ');
            if (markdown) s += " |";
        }
        return s + '\n';
    };
    std::string out = line(t.columns);
    if (markdown) {
        out += '|';
        for (size_t c = 0; c < w.size(); ++c)
            out += t.numeric[c] ? std::string(w[c] + 1, '-') + ":|" : std::string(w[c] + 2, '-') + '|';
        out += '\n';
    }
    for (const auto& r : t.rows) out += line(r);
    return out;
}

}  // namespace

std::string render(const Table& t, Format f) {
    switch (f) {
        case Format::table: return render_aligned(t, false);
        case Format::md: return render_aligned(t, true);
        case Format::csv: {
            std::string out;
            auto line = [&](const std::vector<std::string>& cells) {
                for (size_t c = 0; c < cells.size(); ++c) {
                    if (c) out += ',';
                    out += csv_field(cells[c]);
                }
                out += '\n';
            };
            line(t.columns);
            for (const auto& r : t.rows) line(r);
            return out;
        }
        case Format::json: {
            // numeric cells as JSON numbers where they are (not "nan" or "")
            nlohmann::ordered_json rows = nlohmann::ordered_json::array();
            for (const auto& r : t.rows) {
                nlohmann::ordered_json row = nlohmann::ordered_json::object();
                for (size_t c = 0; c < t.columns.size(); ++c) {
                    nlohmann::ordered_json cell = r[c];
                    if (t.numeric[c])
                        if (auto n = nlohmann::ordered_json::parse(r[c], nullptr, false); n.is_number()) cell = n;
                    row[t.columns[c]] = std::move(cell);
                }
                rows.push_back(std::move(row));
            }
            return rows.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
        }
    }
    return {};
}

}  // namespace deeper::runners
