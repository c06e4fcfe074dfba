#pragma once
// Files written whole or not at all. A temporary beside the target is written, flushed to disk
// (fsync) and renamed over it, so a reader sees the old content or the new, never a part. Any
// failure (a full disk, a file size limit, a read-only folder) removes the temporary, keeps
// the old file, and throws RunError naming the path and the OS's reason. A path that is a
// folder, a device, a FIFO or a socket is never replaced: InputError, before anything is written.
#include <string>
#include <string_view>
#include <vector>

namespace deeper::runners {

// Throws InputError when `path` exists and is not a regular file (so `--out /dev/null` is
// refused, never replaced by a file); a missing path is fine.
void refuse_non_regular(const std::string& path);

void write_atomically(const std::string& path, const std::vector<std::string_view>& parts);
inline void write_atomically(const std::string& path, std::string_view text) {
    write_atomically(path, std::vector<std::string_view>{text});
}

}  // namespace deeper::runners
