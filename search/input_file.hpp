#pragma once
// Reading a file a user named: only a regular file of a bounded size is read, and it is opened
// without blocking, so a FIFO, a device (/dev/zero), a folder or a huge file is refused with an
// InputError naming the path and what it is, before anything is read or allocated.
#include <cstdint>
#include <string>
#include <string_view>

namespace deeper::search {

// What a text input (an experiment, a net file, a config, an annotation list) may weigh.
inline constexpr std::uint64_t kMaxTextFileBytes = std::uint64_t(64) << 20;

// The size of `path` in bytes once it is known to be a regular file of at most `max_bytes`;
// `what` names the file in the refusal ("checkpoint", "journal").
std::uint64_t input_file_size(const std::string& path, std::uint64_t max_bytes, std::string_view what);

// The whole of `path`, under the same rules.
std::string read_input_file(const std::string& path, std::uint64_t max_bytes, std::string_view what);

}  // namespace deeper::search
