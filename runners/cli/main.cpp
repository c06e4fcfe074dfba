// deeper: CNN architecture search and scaling experiments. Exit codes: 0 ok, 1 a run failed,
// 2 bad usage or input.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include "nets/error.hpp"
#include "runners/cli/commands.hpp"
#include "runners/version.hpp"

int main(int argc, char** argv) {
    // A file size limit (ulimit -f) makes a write fail with EFBIG, reported like a full disk,
    // instead of killing the process mid-write.
    std::signal(SIGXFSZ, SIG_IGN);
    CLI::App app{"deeper: reproduce and extend the classic CNN architecture results", "deeper"};
    app.set_version_flag("--version", std::string("deeper ") + deeper::kVersion);
    app.require_subcommand(1);
    deeper::runners::cli::add_nets_command(app);
    deeper::runners::cli::add_count_command(app);
    deeper::runners::cli::add_bench_command(app);
    deeper::runners::cli::add_train_command(app);
    deeper::runners::cli::add_eval_command(app);
    deeper::runners::cli::add_export_command(app);
    deeper::runners::cli::add_experiment_commands(app);
    deeper::runners::cli::add_dump_command(app);
    deeper::runners::cli::add_slurm_commands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    } catch (const deeper::InputError& e) {
        std::cerr << "deeper: error: " << e.what() << '\n';
        return 2;
    } catch (const std::filesystem::filesystem_error& e) {
        // a path given that cannot be looked at (a symlink loop, no permission, not a folder)
        std::cerr << "deeper: error: " << e.path1().string() << ": " << e.code().message() << '\n';
        return 2;
    } catch (const deeper::RunError& e) {
        std::cerr << "deeper: run failed: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "deeper: internal error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
