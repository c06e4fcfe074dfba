#include "runners/json.hpp"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace deeper::runners {

namespace {

class Parser {
public:
    explicit Parser(const std::string& s) : s_(s) {}
    Json parse() {
        Json j = value();
        ws();
        if (i_ != s_.size()) fail("trailing characters");
        return j;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("byte " + std::to_string(i_) + ": " + what);
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
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++i_;
    }
    void append_utf8(std::string& out, unsigned v) {
        if (v < 0x80) out += char(v);
        else if (v < 0x800) out += char(0xC0 | (v >> 6)), out += char(0x80 | (v & 0x3F));
        else out += char(0xE0 | (v >> 12)), out += char(0x80 | ((v >> 6) & 0x3F)), out += char(0x80 | (v & 0x3F));
    }
    std::string str() {
        expect('"');
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size()) fail("bad escape");
            char e = s_[i_++];
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (i_ + 4 > s_.size()) fail("bad \\u escape");
                    append_utf8(out, unsigned(std::strtoul(s_.substr(i_, 4).c_str(), nullptr, 16)));
                    i_ += 4;
                    break;
                }
                default: out += e;
            }
        }
        if (i_ >= s_.size()) fail("unterminated string");
        ++i_;
        return out;
    }
    bool word(const char* w) {
        const std::size_t n = std::char_traits<char>::length(w);
        if (s_.compare(i_, n, w) != 0) return false;
        i_ += n;
        return true;
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
        if (word("true")) { j.kind = Json::boolean; j.flag = true; return j; }
        if (word("false")) { j.kind = Json::boolean; return j; }
        if (word("null")) return j;
        const char* start = s_.c_str() + i_;
        char* end = nullptr;
        j.value = std::strtod(start, &end);
        if (end == start) fail("expected a value");
        i_ += std::size_t(end - start);
        j.kind = Json::number;
        return j;
    }
    const std::string& s_;
    std::size_t i_ = 0;
};

}  // namespace

Json parse_json(const std::string& text) { return Parser(text).parse(); }

}  // namespace deeper::runners
