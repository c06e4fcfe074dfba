#include "runners/engine/precision.hpp"

#include <fmt/format.h>

#include "nets/error.hpp"
#include "runners/engine/engine.hpp"

namespace deeper::runners {

bool cpu_has_bf16() {
    const auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

bool cpu_has_amx() { return dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx; }

Precision parse_precision(const std::string& name) {
    if (name == "f32" || name == "fp32") return Precision::f32;
    if (name == "bf16") {
        if (!cpu_has_bf16())
            throw InputError(fmt::format(
                "precision bf16 needs a CPU with AVX512-BF16 or AMX instructions; this one offers "
                "{} (use precision f32)",
                cpu_isa_name()));
        return Precision::bf16;
    }
    throw InputError(fmt::format("unknown precision '{}' (f32 or bf16)", name));
}

std::string precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "f32"; }

}  // namespace deeper::runners
