#include "runners/train/safetensors.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"

namespace deeper::runners {

namespace {

using nlohmann::json;

std::string header_json(const SafeTensors& st) {
    json h = json::object();
    if (!st.metadata.empty()) h["__metadata__"] = st.metadata;
    std::size_t offset = 0;
    for (const auto& [name, t] : st.tensors) {  // data in the same (sorted) order as the header
        const std::size_t bytes = t.data.size() * (t.int64 ? sizeof(std::int64_t) : sizeof(float));
        h[name] = {{"dtype", t.int64 ? "I64" : "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = h.dump(-1, ' ', false, json::error_handler_t::replace);
    while (text.size() % 8) text += ' ';  // the format pads the header to 8 bytes
    return text;
}

}  // namespace

void write_safetensors(const std::string& path, const SafeTensors& st) {
    const std::string header = header_json(st);
    std::uint64_t len = header.size();
    char le[8];
    for (int i = 0; i < 8; ++i) le[i] = char((len >> (8 * i)) & 0xFF);
    std::vector<std::string_view> parts = {{le, 8}, header};
    std::vector<std::vector<std::int64_t>> whole;  // the I64 tensors' bytes, alive until written
    whole.reserve(st.tensors.size());
    for (const auto& [name, t] : st.tensors) {
        if (!t.int64) {
            parts.emplace_back(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
            continue;
        }
        whole.emplace_back(t.data.begin(), t.data.end());
        parts.emplace_back(reinterpret_cast<const char*>(whole.back().data()), whole.back().size() * sizeof(std::int64_t));
    }
    write_atomically(path, parts);
}

namespace {

// The header's JSON object and the file offset where the data starts. `in` is at the start.
std::pair<json, std::size_t> read_header(const std::string& path, std::istream& in, std::uint64_t file_bytes) {
    if (file_bytes < 8) throw InputError(fmt::format("{}: not a safetensors file (too short)", path));
    unsigned char le[8];
    in.read(reinterpret_cast<char*>(le), 8);
    std::uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= std::uint64_t(le[i]) << (8 * i);
    if (len > file_bytes - 8)
        throw InputError(fmt::format("{}: header of {} bytes does not fit in a {}-byte file", path, len, file_bytes));
    std::string header(len, '\0');
    in.read(header.data(), std::streamsize(len));
    if (!in) throw InputError(fmt::format("{}: cannot read the header", path));
    json root;
    try {
        root = json::parse(header);
    } catch (const json::exception& e) {
        throw InputError(fmt::format("{}: corrupt safetensors header: {}", path, e.what()));
    }
    if (!root.is_object()) throw InputError(fmt::format("{}: header is not a JSON object", path));
    return {std::move(root), 8 + len};
}

std::map<std::string, std::string> metadata_of(const std::string& path, const json& root) {
    std::map<std::string, std::string> m;
    const auto it = root.find("__metadata__");
    if (it == root.end()) return m;
    if (!it->is_object()) throw InputError(fmt::format("{}: __metadata__ is not an object of strings", path));
    for (const auto& [k, v] : it->items())
        if (v.is_string()) m[k] = v.get<std::string>();
    return m;
}

std::ifstream open_checkpoint(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open the checkpoint", path));
    return in;
}

}  // namespace

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
    std::ifstream in = open_checkpoint(path);
    const auto [root, data_start] = read_header(path, in, std::filesystem::file_size(path));
    return metadata_of(path, root);
}

SafeTensors read_safetensors(const std::string& path) {
    std::ifstream in = open_checkpoint(path);
    const std::uint64_t file_bytes = std::filesystem::file_size(path);
    const auto [root, data_start] = read_header(path, in, file_bytes);
    const std::size_t data_bytes = file_bytes - data_start;
    std::string data(data_bytes, '\0');
    in.read(data.data(), std::streamsize(data_bytes));
    if (!in) throw InputError(fmt::format("{}: cannot read the tensors", path));
    SafeTensors st;
    st.metadata = metadata_of(path, root);
    for (const auto& [name, j] : root.items()) {
        auto bad = [&](const std::string& what) {
            return InputError(fmt::format("{}: tensor '{}' {}", path, name, what));
        };
        if (name == "__metadata__") continue;
        if (!j.is_object()) throw bad("is not described by an object");
        for (const char* f : {"dtype", "shape", "data_offsets"})
            if (!j.contains(f)) throw bad(fmt::format("has no {}", f));
        const json& dtype = j["dtype"];
        if (dtype != "F32" && dtype != "I64") throw bad(fmt::format("is {}, only F32 and I64 are read", dtype.dump()));
        Tensor t;
        t.int64 = dtype == "I64";
        const std::uint64_t width = t.int64 ? 8 : 4;
        std::uint64_t elems = 1;
        if (!j["shape"].is_array()) throw bad("has a shape that is not a list");
        for (const auto& d : j["shape"]) {
            if (!d.is_number_unsigned()) throw bad(fmt::format("has the dimension {}", d.dump()));
            const std::uint64_t n = d;
            if (n != 0 && elems > data_bytes / n) throw bad("is larger than the file (truncated file?)");
            t.shape.push_back(std::int64_t(n));
            elems *= n;
        }
        const json& off = j["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            throw bad("has data offsets that are not two whole numbers");
        const std::uint64_t from = off[0], to = off[1];
        if (to < from || to > data_bytes || to - from != elems * width)
            throw bad("has bad data offsets (truncated file?)");
        t.data.resize(std::size_t(elems));
        if (t.int64) {
            for (std::size_t i = 0; i < std::size_t(elems); ++i) {
                std::int64_t v;
                std::memcpy(&v, data.data() + from + i * 8, 8);
                t.data[i] = float(v);
            }
        } else {
            std::memcpy(t.data.data(), data.data() + from, std::size_t(elems) * 4);
        }
        st.tensors[name] = std::move(t);
    }
    return st;
}

}  // namespace deeper::runners
