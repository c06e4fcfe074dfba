#include "runners/npy.hpp"

#include <fmt/format.h>

#include <functional>
#include <numeric>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"

namespace deeper::runners {

void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const std::vector<float>& values) {
    const std::int64_t n = std::accumulate(shape.begin(), shape.end(), std::int64_t(1), std::multiplies<>());
    if (n != std::int64_t(values.size()))
        throw RunError(fmt::format("{}: {} values for a shape of {}", path, values.size(), n));
    std::string dims;
    for (auto d : shape) dims += fmt::format("{},", d);
    if (shape.size() > 1) dims.pop_back();  // (16,) but (16, 10)
    std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}", dims);
    // magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64 and ended by \n
    const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
    header.append(total - 10 - header.size() - 1, ' ');
    header += '\n';
    std::string bytes = "\x93NUMPY";
    bytes += char(1);
    bytes += char(0);
    bytes += char(header.size() & 0xff);
    bytes += char(header.size() >> 8);
    bytes += header;
    bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    write_atomically(path, bytes);
}

}  // namespace deeper::runners
