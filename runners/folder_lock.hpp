#pragma once
// One writer per output: an advisory lock (an open-file-description fcntl lock) on a lock
// file, held for the life of the object. A second `deeper run` on the same results folder and
// shard, or a second `deeper train` into the same run folder, is refused with a message naming
// the holder, instead of both writing. The kernel releases the lock when the process dies
// (kill -9 included), so a stale lock file never blocks. SLURM shards write their own journals
// and lock their own files, so they never contend. `held` asks the kernel (F_OFD_GETLK)
// without taking the lock: a probe never makes a writer that starts at that moment fail, as a
// probe that took and dropped an flock could.
#include <optional>
#include <string>

namespace deeper::runners {

class FolderLock {
public:
    // Throws InputError when another process holds it. `what` names the output in the message.
    FolderLock(const std::string& lock_path, const std::string& what);
    ~FolderLock();
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;

    // Whether a live process holds the lock file (false when absent or free); takes nothing.
    static bool held(const std::string& lock_path);

private:
    int fd_ = -1;
};

}  // namespace deeper::runners
