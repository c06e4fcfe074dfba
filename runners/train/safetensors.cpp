#include "runners/train/safetensors.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "runners/json.hpp"
#include "runners/table.hpp"

namespace deeper::runners {

namespace {

std::string header_json(const SafeTensors& st) {
    std::string h = "{";
    bool first = true;
    if (!st.metadata.empty()) {
        h += "\"__metadata__\":{";
        bool f2 = true;
        for (const auto& [k, v] : st.metadata) {
            h += (f2 ? "" : ",") + json_string(k) + ":" + json_string(v);
            f2 = false;
        }
        h += "}";
        first = false;
    }
    std::size_t offset = 0;
    for (const auto& [name, t] : st.tensors) {
        std::string shape;
        for (auto d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        const std::size_t bytes = t.data.size() * sizeof(float);
        h += fmt::format("{}{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                         first ? "" : ",", json_string(name), shape, offset, offset + bytes);
        offset += bytes;
        first = false;
    }
    h += "}";
    while (h.size() % 8) h += ' ';  // the format pads the header to 8 bytes
    return h;
}

}  // namespace

void write_safetensors(const std::string& path, const SafeTensors& st) {
    const std::string header = header_json(st);
    std::uint64_t len = header.size();
    char le[8];
    for (int i = 0; i < 8; ++i) le[i] = char((len >> (8 * i)) & 0xFF);
    std::vector<std::string_view> parts = {{le, 8}, header};
    for (const auto& [name, t] : st.tensors)
        parts.emplace_back(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
    write_atomically(path, parts);
}

SafeTensors read_safetensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open the checkpoint", path));
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < 8) throw InputError(fmt::format("{}: not a safetensors file (too short)", path));
    std::uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= std::uint64_t((unsigned char)bytes[i]) << (8 * i);
    if (len > bytes.size() - 8)
        throw InputError(fmt::format("{}: header of {} bytes does not fit in a {}-byte file", path, len, bytes.size()));
    const std::string header = bytes.substr(8, len);
    Json root;
    try {
        root = parse_json(header);
    } catch (const std::runtime_error& e) {
        throw InputError(fmt::format("{}: corrupt safetensors header: {}", path, e.what()));
    }
    if (root.kind != Json::object) throw InputError(fmt::format("{}: header is not a JSON object", path));
    const std::size_t data_start = 8 + len, data_bytes = bytes.size() - data_start;
    SafeTensors st;
    for (const auto& [name, j] : root.fields) {
        if (name == "__metadata__") {
            for (const auto& [k, v] : j.fields) st.metadata[k] = v.text;
            continue;
        }
        auto field = [&](const char* f) -> const Json& {
            auto it = j.fields.find(f);
            if (it == j.fields.end())
                throw InputError(fmt::format("{}: tensor '{}' has no {}", path, name, f));
            return it->second;
        };
        if (field("dtype").text != "F32")
            throw InputError(fmt::format("{}: tensor '{}' is {}, only F32 is read", path, name, field("dtype").text));
        Tensor t;
        std::int64_t elems = 1;
        for (const auto& d : field("shape").items) {
            if (d.value < 0 || d.value != std::floor(d.value)) throw InputError(fmt::format("{}: tensor '{}' has a negative dimension", path, name));
            t.shape.push_back(std::int64_t(d.value));
            elems *= std::int64_t(d.value);
        }
        const auto& off = field("data_offsets").items;
        if (off.size() != 2 || off[0].value < 0 || off[1].value < off[0].value ||
            std::size_t(off[1].value) > data_bytes || off[1].value - off[0].value != double(elems) * 4)
            throw InputError(fmt::format("{}: tensor '{}' has bad data offsets (truncated file?)", path, name));
        t.data.resize(std::size_t(elems));
        std::memcpy(t.data.data(), bytes.data() + data_start + std::size_t(off[0].value), std::size_t(elems) * 4);
        st.tensors[name] = std::move(t);
    }
    return st;
}

}  // namespace deeper::runners
