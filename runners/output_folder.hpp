#pragma once
// The folder a command writes into (--out), checked and created before any work starts.
#include <string>
#include <string_view>
#include <vector>

namespace deeper::runners {

// Creates `path` if needed. Refuses (InputError naming the option, the path and the reason):
// a path that is a file; a folder that cannot be created or written; an existing folder with
// other files in it that holds none of `own_marks` (the files deeper's own outputs always have),
// so `--out /` or `--out ~` never get results sprayed into them.
// What deeper's folders always hold: an experiment's results (run, submit) and a run of `train`.
inline const std::vector<std::string> kResultsFolderMarks = {"journal", "experiment.yaml", ".lock"};
inline const std::vector<std::string> kTrainFolderMarks = {"config.yaml", "checkpoint.safetensors", "metrics.csv",
                                                           ".lock"};

void prepare_output_folder(const std::string& path, std::string_view option,
                           const std::vector<std::string>& own_marks);

// A file a command will write (`dump --out`, `export OUT`, `eval --predictions`), checked
// before any work: its folder exists and can be written into, and the path is missing or a
// regular file (never a folder, a device or a FIFO). InputError naming the option otherwise.
void check_output_file(const std::string& path, std::string_view option);

// A checkpoint given as a file, or as the run (or search trial) folder that holds it:
// FOLDER/checkpoint.safetensors. InputError for a folder without one.
std::string checkpoint_file(const std::string& path, std::string_view option);

// The experiment as run, kept beside its results as folder/experiment.yaml (status, report and
// SLURM tasks read it), written atomically; nothing to do when `experiment` is that file.
void keep_experiment_copy(const std::string& experiment, const std::string& folder);

}  // namespace deeper::runners
