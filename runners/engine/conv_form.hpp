#pragma once
// How one convolution runs: the data type it computes in, the algorithm of each pass, or
// im2col + matmul. A ConvPlan gives a form to convs by node name; the tuner (tuner.hpp)
// measures the candidates on the machine and writes the plan, the fixed rules in
// layers/conv.cpp apply to every conv the plan does not name.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

namespace deeper::runners {

struct ConvForm {
    dnnl::memory::data_type type = dnnl::memory::data_type::f32;
    bool gemm = false;  // im2col + matmul (the algorithms below do not apply)
    dnnl::algorithm fwd = dnnl::algorithm::convolution_direct;
    dnnl::algorithm bwd_data = dnnl::algorithm::convolution_direct;
    dnnl::algorithm bwd_weights = dnnl::algorithm::convolution_direct;
    // The batch norm the conv feeds runs on the engine's own kernels (layers/bn_kernels.hpp),
    // not oneDNN's.
    bool own_bn = false;
    // The engine's Winograd F(2x2, 3x3) around matmul (layers/winograd_conv.hpp; the algorithms
    // above do not apply).
    bool winograd_f2 = false;

    bool operator==(const ConvForm&) const = default;
};

// "f32:direct", "bf16:direct", "f32:winograd" (every pass), "f32:winograd/direct/winograd"
// (forward / backward-data / backward-weights), "bf16:gemm", "bf16:winograd-f2", each with "+own-bn" when its
// batch norm runs on the engine's kernels: what plan files and `deeper bench --layers` show.
std::string conv_form_name(const ConvForm& f);
// The inverse; nullopt for text that names no form.
std::optional<ConvForm> parse_conv_form(const std::string& text);

using ConvPlan = std::map<std::string, ConvForm>;  // node name -> form

// One line per conv, "NODE FORM", sorted by name: what run folders and checkpoints record.
std::string conv_plan_text(const ConvPlan& p);
// The inverse; throws InputError naming `where` and the line for text that is not a plan.
ConvPlan parse_conv_plan(const std::string& text, const std::string& where);
// 16 hex digits of a hash of conv_plan_text: results.csv's `conv_plan` column.
std::string conv_plan_hash(const ConvPlan& p);

}  // namespace deeper::runners
