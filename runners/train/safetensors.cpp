#include "runners/train/safetensors.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "search/input_file.hpp"

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

std::string shape_text(const std::vector<std::int64_t>& shape) {
    return shape.empty() ? "scalar" : fmt::format("{}", fmt::join(shape, "x"));
}

std::size_t non_finite_count(const Tensor& t) {
    return std::size_t(std::count_if(t.data.begin(), t.data.end(), [](float v) { return !std::isfinite(v); }));
}

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
    // nlohmann keeps the last of two equal keys; in a header that would hide a tensor, so the
    // keys of every object are collected as they are parsed and a repeated one is refused.
    std::vector<std::set<std::string>> keys;
    std::string repeated;
    const json::parser_callback_t note_keys = [&](int, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        else if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
        else if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
                 repeated.empty())
            repeated = parsed.get<std::string>();
        return true;
    };
    try {
        root = json::parse(header, note_keys);
    } catch (const json::exception& e) {
        throw InputError(fmt::format("{}: corrupt safetensors header: {}", path, e.what()));
    }
    if (!repeated.empty()) throw InputError(fmt::format("{}: the header names '{}' twice", path, repeated));
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

// What a checkpoint may weigh: every zoo net's fp32 weights fit with room (VGG-19: 548 MiB).
constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t(8) << 30;

// The file, once known to be a regular file of a sane size (a FIFO, a device or a folder is
// refused before it is opened), and its size.
std::pair<std::ifstream, std::uint64_t> open_checkpoint(const std::string& path) {
    const std::uint64_t bytes = search::input_file_size(path, kMaxCheckpointBytes, "checkpoint");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open the checkpoint", path));
    return {std::move(in), bytes};
}

bool is_counter(const std::string& name) {
    const std::string_view counter = "num_batches_tracked";
    return name.size() >= counter.size() && name.compare(name.size() - counter.size(), counter.size(), counter) == 0;
}

// Two tensors whose bytes overlap would alias each other's values: a corrupt or crafted file.
void refuse_overlaps(const std::string& path, std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> ranges) {
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
        if (std::get<0>(ranges[i]) < std::get<1>(ranges[i - 1]))
            throw InputError(fmt::format("{}: tensors '{}' and '{}' share bytes (overlapping data offsets)", path,
                                         std::get<2>(ranges[i - 1]), std::get<2>(ranges[i])));
}

}  // namespace

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
    auto [in, file_bytes] = open_checkpoint(path);
    const auto [root, data_start] = read_header(path, in, file_bytes);
    return metadata_of(path, root);
}

SafeTensors read_safetensors(const std::string& path) {
    auto [in, file_bytes] = open_checkpoint(path);
    const auto [root, data_start] = read_header(path, in, file_bytes);
    const std::size_t data_bytes = file_bytes - data_start;
    std::string data(data_bytes, '\0');
    in.read(data.data(), std::streamsize(data_bytes));
    if (!in) throw InputError(fmt::format("{}: cannot read the tensors", path));
    SafeTensors st;
    st.metadata = metadata_of(path, root);
    std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> ranges;
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
        if (dtype == "I64" && !is_counter(name))
            throw bad("is I64: only counters (num_batches_tracked) may be whole numbers, weights are F32");
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
        ranges.emplace_back(from, to, name);
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
    refuse_overlaps(path, std::move(ranges));
    return st;
}

}  // namespace deeper::runners
