#pragma once
// A small JSON reader for the files deeper writes itself (journal lines, safetensors headers):
// objects, arrays, strings, numbers, true/false/null. Writing is done with json_string().
#include <map>
#include <string>
#include <vector>

namespace deeper::runners {

struct Json {
    enum Kind { null, boolean, number, string, array, object } kind = null;
    bool flag = false;
    double value = 0;
    std::string text;
    std::vector<Json> items;
    std::map<std::string, Json> fields;

    const Json* get(const std::string& key) const {
        auto it = fields.find(key);
        return it == fields.end() ? nullptr : &it->second;
    }
    std::string str(const std::string& key, const std::string& fallback = "") const {
        const Json* j = get(key);
        return j && j->kind == string ? j->text : fallback;
    }
    double num(const std::string& key, double fallback = 0) const {
        const Json* j = get(key);
        return j && j->kind == number ? j->value : fallback;
    }
};

// Throws std::runtime_error("byte N: what") for malformed text.
Json parse_json(const std::string& text);

}  // namespace deeper::runners
