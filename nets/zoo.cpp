#include "nets/zoo.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>

#include "nets/error.hpp"
#include "nets/suggest.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets {

const std::vector<ZooEntry>& zoo() {
    static const std::vector<ZooEntry> z = [] {
        std::vector<ZooEntry> v;
        zoo_families::add_alexnet(v);
        zoo_families::add_vgg(v);
        zoo_families::add_googlenet(v);
        zoo_families::add_resnet(v);
        zoo_families::add_mobilenet(v);
        zoo_families::add_efficientnet(v);
        return v;
    }();
    return z;
}

namespace {

// "resnet" + digits: the open CIFAR family, for depths the table does not list.
const ZooEntry* open_family(std::string_view name) {
    for (bool residual : {true, false}) {
        std::string_view prefix = residual ? "resnet" : "plain";
        if (name.rfind(prefix, 0) != 0) continue;
        std::string_view digits = name.substr(prefix.size());
        int depth = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), depth);
        if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) return nullptr;
        if (depth < 8 || (depth - 2) % 6) return nullptr;
        static std::vector<std::unique_ptr<ZooEntry>> made;  // entries live as long as the zoo
        static std::mutex m;
        std::lock_guard lock(m);
        for (const auto& e : made)
            if (e->name == name) return e.get();
        made.push_back(std::make_unique<ZooEntry>(zoo_families::cifar_resnet_entry(depth, residual)));
        return made.back().get();
    }
    return nullptr;
}

}  // namespace

const ZooEntry& find_net(std::string_view name) {
    std::vector<std::string> names;
    for (const auto& e : zoo()) {
        if (e.name == name) return e;
        for (const auto& a : e.aliases)
            if (a == name) return e;
        names.push_back(e.name);
        names.insert(names.end(), e.aliases.begin(), e.aliases.end());
    }
    if (const ZooEntry* e = open_family(name)) return *e;
    throw InputError(fmt::format("unknown net '{}'{}; `deeper nets` lists them all", name,
                                 did_you_mean(name, names)));
}

Graph build_net(std::string_view name, const NetOptions& o) {
    const ZooEntry& e = find_net(name);
    refuse_knobs_not_taken(o, e.name, e.knobs);
    try {
        return e.build(o);
    } catch (const InputError& err) {
        // Say the smallest resolution that builds, when a larger one would have worked.
        int asked = o.resolution.value_or(0);
        for (int r = asked + 1; asked > 0 && r <= 1024; ++r) {
            NetOptions probe = o;
            probe.resolution = r;
            try {
                e.build(probe);
            } catch (const InputError&) {
                continue;
            }
            throw InputError(fmt::format("{} (resolution {} is too small for {}; the smallest it "
                                         "builds at is {})",
                                         err.what(), asked, e.name, r));
        }
        throw;
    }
}

}  // namespace deeper::nets
