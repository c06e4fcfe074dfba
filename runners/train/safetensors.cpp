#include "runners/train/safetensors.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nets/error.hpp"
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

// A minimal JSON reader for the header: objects, arrays, strings, integers.
struct Json {
    enum Kind { object, array, string, number } kind = object;
    std::map<std::string, Json> fields;
    std::vector<Json> items;
    std::string text;
    std::int64_t value = 0;
};

class Parser {
public:
    Parser(const std::string& s, const std::string& path) : s_(s), path_(path) {}
    Json parse() {
        Json j = value();
        ws();
        if (i_ != s_.size()) fail("trailing characters");
        return j;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw InputError(fmt::format("{}: corrupt safetensors header at byte {}: {}", path_, i_ + 8, what));
    }
    void ws() {
        while (i_ < s_.size() && std::isspace((unsigned char)s_[i_])) ++i_;
    }
    char peek() {
        ws();
        if (i_ >= s_.size()) fail("unexpected end");
        return s_[i_];
    }
    void expect(char c) {
        if (peek() != c) fail(fmt::format("expected '{}'", c));
        ++i_;
    }
    std::string str() {
        expect('"');
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c == '\\') {
                if (i_ >= s_.size()) fail("bad escape");
                char e = s_[i_++];
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case 'u': {
                        if (i_ + 4 > s_.size()) fail("bad \\u escape");
                        unsigned v = std::stoul(s_.substr(i_, 4), nullptr, 16);
                        i_ += 4;
                        if (v < 0x80) out += char(v);
                        else if (v < 0x800) out += char(0xC0 | (v >> 6)), out += char(0x80 | (v & 0x3F));
                        else out += char(0xE0 | (v >> 12)), out += char(0x80 | ((v >> 6) & 0x3F)), out += char(0x80 | (v & 0x3F));
                        break;
                    }
                    default: out += e;
                }
            } else {
                out += c;
            }
        }
        if (i_ >= s_.size()) fail("unterminated string");
        ++i_;
        return out;
    }
    Json value() {
        Json j;
        const char c = peek();
        if (c == '{') {
            ++i_;
            j.kind = Json::object;
            if (peek() == '}') return ++i_, j;
            while (true) {
                std::string k = str();
                expect(':');
                j.fields[k] = value();
                if (peek() == ',') { ++i_; continue; }
                expect('}');
                return j;
            }
        }
        if (c == '[') {
            ++i_;
            j.kind = Json::array;
            if (peek() == ']') return ++i_, j;
            while (true) {
                j.items.push_back(value());
                if (peek() == ',') { ++i_; continue; }
                expect(']');
                return j;
            }
        }
        if (c == '"') {
            j.kind = Json::string;
            j.text = str();
            return j;
        }
        j.kind = Json::number;
        std::size_t start = i_;
        if (s_[i_] == '-') ++i_;
        while (i_ < s_.size() && std::isdigit((unsigned char)s_[i_])) ++i_;
        if (start == i_) fail("expected a value");
        j.value = std::stoll(s_.substr(start, i_ - start));
        return j;
    }
    const std::string& s_;
    const std::string& path_;
    std::size_t i_ = 0;
};

}  // namespace

void write_safetensors(const std::string& path, const SafeTensors& st) {
    const std::string header = header_json(st);
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw RunError(fmt::format("{}: cannot write ({})", tmp, std::strerror(errno)));
    auto write_all = [&](const void* p, std::size_t n) {
        const char* c = static_cast<const char*>(p);
        while (n > 0) {
            ssize_t w = ::write(fd, c, n);
            if (w < 0) {
                if (errno == EINTR) continue;
                ::close(fd);
                throw RunError(fmt::format("{}: write failed ({})", tmp, std::strerror(errno)));
            }
            c += w;
            n -= std::size_t(w);
        }
    };
    std::uint64_t len = header.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = (len >> (8 * i)) & 0xFF;
    write_all(le, 8);
    write_all(header.data(), header.size());
    for (const auto& [name, t] : st.tensors) write_all(t.data.data(), t.data.size() * sizeof(float));
    if (::fsync(fd) != 0 || ::close(fd) != 0)
        throw RunError(fmt::format("{}: cannot flush ({})", tmp, std::strerror(errno)));
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw RunError(fmt::format("{}: cannot rename over {} ({})", tmp, path, ec.message()));
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
    const Json root = Parser(header, path).parse();
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
            if (d.value < 0) throw InputError(fmt::format("{}: tensor '{}' has a negative dimension", path, name));
            t.shape.push_back(d.value);
            elems *= d.value;
        }
        const auto& off = field("data_offsets").items;
        if (off.size() != 2 || off[0].value < 0 || off[1].value < off[0].value ||
            std::size_t(off[1].value) > data_bytes || off[1].value - off[0].value != elems * 4)
            throw InputError(fmt::format("{}: tensor '{}' has bad data offsets (truncated file?)", path, name));
        t.data.resize(std::size_t(elems));
        std::memcpy(t.data.data(), bytes.data() + data_start + off[0].value, std::size_t(elems) * 4);
        st.tensors[name] = std::move(t);
    }
    return st;
}

}  // namespace deeper::runners
