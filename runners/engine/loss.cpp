#include "runners/engine/loss.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace deeper::runners {

LossStats softmax_cross_entropy(const float* logits, const std::int32_t* labels, int n, int k,
                                float smoothing, float weight, float* grad) {
    LossStats st;
    for (int i = 0; i < n; ++i) {
        const float* z = logits + std::size_t(i) * k;
        const int y = labels[i];
        if (y < 0 || y >= k) throw std::out_of_range("label out of range of the classifier");
        const double zmax = *std::max_element(z, z + k);
        double sum = 0;
        for (int j = 0; j < k; ++j) sum += std::exp(double(z[j]) - zmax);
        const double log_sum = std::log(sum);
        double loss = 0;
        for (int j = 0; j < k; ++j) {
            const double target = (j == y ? 1.0 - smoothing : 0.0) + smoothing / k;
            const double log_p = double(z[j]) - zmax - log_sum;
            loss -= target * log_p;
            if (grad) grad[std::size_t(i) * k + j] = float(weight * (std::exp(log_p) - target) / n);
        }
        st.loss += loss / n;
        // A row with a NaN or infinity predicts nothing (every comparison with NaN is false,
        // which would rank the true class first).
        if (!std::all_of(z, z + k, [](float v) { return std::isfinite(v); })) continue;
        int rank = 0;  // how many classes score above the true one
        for (int j = 0; j < k; ++j) rank += z[j] > z[y] || (z[j] == z[y] && j < y);
        st.top1_correct += rank < 1;
        st.top5_correct += rank < 5;
    }
    return st;
}

}  // namespace deeper::runners
