#pragma once
// One function per verb: each adds its subcommand to the app and runs it from the callback.
#include <CLI/CLI.hpp>

namespace deeper::runners::cli {

void add_nets_command(CLI::App& app);
void add_count_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_experiment_commands(CLI::App& app);
void add_dump_command(CLI::App& app);
void add_slurm_commands(CLI::App& app);

}  // namespace deeper::runners::cli
