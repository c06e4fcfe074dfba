#include "runners/train/param_tensors.hpp"

namespace deeper::runners {

void add_param_tensors(Engine& e, SafeTensors& out, const std::string& prefix) {
    auto& store = e.params();
    for (std::size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        out.tensors[prefix + p.name] = {std::vector<std::int64_t>(p.dims.begin(), p.dims.end()),
                                        store.read_plain(int(i), e.dnnl_engine(), e.stream())};
    }
}

}  // namespace deeper::runners
