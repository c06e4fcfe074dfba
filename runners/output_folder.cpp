#include "runners/output_folder.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "search/yaml_util.hpp"

namespace fs = std::filesystem;

namespace deeper::runners {

void prepare_output_folder(const std::string& path, std::string_view option,
                           const std::vector<std::string>& own_marks) {
    const fs::path p(path);
    std::error_code ec;
    if (fs::exists(p, ec) && !fs::is_directory(p, ec))
        throw InputError(fmt::format("{} {}: exists and is not a folder", option, path));
    if (fs::is_directory(p, ec) && !fs::is_empty(p, ec)) {
        // A mark's half-written temporary counts: a SLURM array's tasks start at once, and one
        // may look while another writes experiment.yaml (MARK.tmp.PID.N, then a rename).
        bool ours = false;
        for (const auto& entry : fs::directory_iterator(p, ec)) {
            const std::string name = entry.path().filename().string();
            for (const auto& m : own_marks) ours = ours || name == m || name.starts_with(m + ".tmp.");
        }
        if (!ours)
            throw InputError(fmt::format("{} {}: the folder holds other files and none of deeper's ({}); "
                                         "give a new or empty folder",
                                         option, path, fmt::join(own_marks, ", ")));
    }
    fs::create_directories(p, ec);
    if (ec) throw InputError(fmt::format("{} {}: cannot create the folder: {}", option, path, ec.message()));
    if (::access(p.c_str(), W_OK | X_OK) != 0)
        throw InputError(fmt::format("{} {}: cannot write into the folder: {}", option, path, std::strerror(errno)));
}

void check_output_file(const std::string& path, std::string_view option) {
    const fs::path p(path);
    const fs::path folder = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    std::error_code ec;
    if (p.filename().empty() || fs::is_directory(p, ec))
        throw InputError(fmt::format("{} {}: is a folder; give the file to write", option, path));
    if (!fs::is_directory(folder, ec))
        throw InputError(fmt::format("{} {}: {} is not a folder", option, path, folder.string()));
    if (::access(folder.c_str(), W_OK | X_OK) != 0)
        throw InputError(fmt::format("{} {}: cannot write into {}: {}", option, path, folder.string(), std::strerror(errno)));
    try {
        refuse_non_regular(path);
    } catch (const InputError& e) {
        throw InputError(fmt::format("{} {}", option, e.what()));
    }
}

std::string checkpoint_file(const std::string& path, std::string_view option) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return path;
    const fs::path p = fs::path(path) / "checkpoint.safetensors";
    if (!fs::exists(p, ec))
        throw InputError(fmt::format("{} {}: a folder without a checkpoint.safetensors", option, path));
    return p.string();
}

void keep_experiment_copy(const std::string& experiment, const std::string& folder) {
    const fs::path copy = fs::path(folder) / "experiment.yaml";
    std::error_code ec;
    if (fs::exists(copy) && fs::equivalent(experiment, copy, ec)) return;
    write_atomically(copy.string(), search::read_text_file(experiment));
}

}  // namespace deeper::runners
