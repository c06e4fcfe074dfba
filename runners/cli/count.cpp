// `deeper nets` and `deeper count`: what the zoo holds, and exact params and MACs.
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cli/knob_options.hpp"
#include "runners/table.hpp"
#include "search/net_spec.hpp"

namespace deeper::runners::cli {

namespace {

// Millions with one decimal below 10M, as the papers print them.
std::string millions(std::int64_t v) { return fmt::format("{:.{}f}", v / 1e6, v < 10'000'000 ? 2 : 1); }

struct CountArgs {
    std::vector<std::string> nets;
    std::string spec;
    KnobArgs knobs;
    bool layers = false;
    std::string format = "table";
};

void run_count(const CountArgs& a) {
    const Format f = parse_format(a.format);
    const bool human = f == Format::table || f == Format::md;
    if (a.nets.empty() && a.spec.empty())
        throw InputError("count: name at least one net (see `deeper nets`) or give --spec FILE");

    Table t;
    t.add_column("net");
    t.add_column("knobs");
    t.add_column("resolution", true);
    t.add_column("classes", true);
    t.add_column("params", true);
    t.add_column("macs", true);
    if (human) {
        t.add_column("params_M", true);
        t.add_column("macs_M", true);
    }
    // A row as each net is built; graphs are kept only for the per-layer tables.
    std::vector<nets::Graph> graphs;
    auto add = [&](nets::Graph g, const nets::NetOptions& opts) {
        std::vector<std::string> row = {g.name,
                                        nets::to_string(opts),
                                        std::to_string(g.input_shape().h),
                                        std::to_string(g.output().out.c),
                                        human ? with_thousands(g.total_params()) : std::to_string(g.total_params()),
                                        human ? with_thousands(g.total_macs()) : std::to_string(g.total_macs())};
        if (human) {
            row.push_back(millions(g.total_params()));
            row.push_back(millions(g.total_macs()));
        }
        t.add_row(std::move(row));
        if (a.layers) graphs.push_back(std::move(g));
    };
    const auto combinations = expand_knobs(a.knobs);
    const std::optional<search::NetSpec> spec =
        a.spec.empty() ? std::nullopt : std::optional<search::NetSpec>(search::load_net_spec(a.spec));
    for (const auto& opts : combinations) {
        for (const auto& n : a.nets) add(nets::build_net(n, opts), opts);
        if (spec) add(search::build_spec_net(*spec, opts), opts);
    }
    std::cout << render(t, f);
    if (human) std::cout << "(macs = multiply-accumulates of conv and linear layers; FLOPs = 2 x macs)\n";

    if (!a.layers) return;
    for (const auto& g : graphs) {
        Table l;
        l.add_column("layer");
        l.add_column("op");
        l.add_column("output");
        l.add_column("params", true);
        l.add_column("macs", true);
        if (!human) l.columns.insert(l.columns.begin(), "net"), l.numeric.insert(l.numeric.begin(), false);
        for (const auto& n : g.nodes) {
            std::vector<std::string> row = {n.name, nets::op_name(n.op), nets::shape_text(n.out),
                                            human ? with_thousands(n.params) : std::to_string(n.params),
                                            human ? with_thousands(n.macs) : std::to_string(n.macs)};
            if (!human) row.insert(row.begin(), g.name);
            l.add_row(std::move(row));
        }
        if (human) std::cout << fmt::format("\n{}{}:\n", f == Format::md ? "### " : "", g.name);
        else std::cout << '\n';
        std::cout << render(l, f);
    }
}

}  // namespace

void add_nets_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("nets", "List the zoo: every net with its knobs");
    auto format = std::make_shared<std::string>("table");
    cmd->add_option("--format", *format, "table, csv, md or json")->capture_default_str();
    cmd->callback([format] {
        Table t;
        t.add_column("net");
        t.add_column("aliases");
        t.add_column("description");
        t.add_column("knobs");
        for (const auto& e : nets::zoo()) {
            std::string aliases, knobs;
            for (const auto& a : e.aliases) aliases += (aliases.empty() ? "" : " ") + a;
            for (const auto& k : e.knobs) knobs += (knobs.empty() ? "" : " ") + k;
            t.add_row({e.name, aliases, e.summary, knobs});
        }
        std::cout << render(t, parse_format(*format));
        if (parse_format(*format) == Format::table)
            std::cout << "\nAlso resnet<6n+2> and plain<6n+2> for any n (e.g. resnet1202).\n";
    });
}

void add_count_command(CLI::App& app) {
    auto a = std::make_shared<CountArgs>();
    auto* cmd = app.add_subcommand("count", "Exact parameter and multiply-add counts of nets");
    cmd->add_option("nets", a->nets, "zoo nets (see `deeper nets`)");
    cmd->add_option("--spec", a->spec, "a net defined in a YAML file")->check(CLI::ExistingFile);
    cmd->add_flag("--layers", a->layers, "add a per-layer table (name, op, output, params, MACs)");
    cmd->add_option("--format", a->format, "table, csv, md or json")->capture_default_str();
    add_knob_options(*cmd, a->knobs);
    cmd->footer(
        "Knob values may be comma-separated lists: every combination is counted.\n"
        "Example: deeper count mobilenet-v1 googlenet vgg-d --format md");
    cmd->callback([a] { run_count(*a); });
}

}  // namespace deeper::runners::cli
