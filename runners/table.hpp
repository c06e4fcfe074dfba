#pragma once
// A table of text cells printed as an aligned text table, RFC 4180 CSV, a Markdown table or
// JSON (an array of objects). Numeric columns are right-aligned and unquoted in JSON.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deeper::runners {

enum class Format { table, csv, md, json };
Format parse_format(std::string_view s);  // throws InputError

struct Table {
    std::vector<std::string> columns;
    std::vector<bool> numeric;  // per column
    std::vector<std::vector<std::string>> rows;

    void add_column(std::string name, bool is_numeric = false);
    void add_row(std::vector<std::string> cells);  // throws std::logic_error on a width mismatch
};

std::string render(const Table& t, Format f);

std::string csv_field(std::string_view s);  // quoted when it holds , " CR or LF
std::string with_thousands(std::int64_t v);  // 1234567 -> "1,234,567"

}  // namespace deeper::runners
