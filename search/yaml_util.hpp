#pragma once
// Reading YAML with errors that say where: "file.yaml:12:5: key 'lr': expected a number".
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace deeper::search {

// The whole file (a regular file of at most kMaxTextFileBytes); throws InputError naming the
// file when it cannot be read.
std::string read_text_file(const std::string& path);

// "a,,b" -> {"a", "", "b"}: list values given as text (--width 0.5,1 or milestones: 30,60).
// Empty items are kept, so the parser of each item can refuse them.
std::vector<std::string> split_commas(const std::string& text);

class YamlDoc {
public:
    // Throws InputError "path:line:col: ..." for unreadable or malformed files.
    static YamlDoc load_file(const std::string& path);
    static YamlDoc load_string(const std::string& text, const std::string& name);

    const YAML::Node& root() const { return root_; }
    const std::string& path() const { return path_; }

    [[noreturn]] void fail(const YAML::Node& at, const std::string& what) const;
    std::string where(const YAML::Node& at) const;  // "path:line:col"

    // Every key of `map` must be one of `known`; an unknown one suggests the closest.
    void check_keys(const YAML::Node& map, const std::vector<std::string>& known,
                    const std::string& what) const;
    void require_map(const YAML::Node& n, const std::string& what) const;

    template <class T>
    T as(const YAML::Node& n, const std::string& key, const char* expected) const {
        try {
            return n.as<T>();
        } catch (const YAML::Exception&) {
            fail(n, "key '" + key + "': expected " + expected);
        }
    }
    std::string scalar(const YAML::Node& n, const std::string& key) const;

private:
    YAML::Node root_;
    std::string path_;
};

}  // namespace deeper::search
