#pragma once
// Two plots written as SVG by hand, enough for the papers' figures: lines (a metric against
// epochs per trial group: ResNet Fig. 1/6) and points (a metric against MACs: EfficientNet's
// scaling figures, log x).
#include <string>
#include <utility>
#include <vector>

namespace deeper::runners {

struct Series {
    std::string name;
    std::vector<std::pair<double, double>> points;
};

std::string svg_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                     const std::vector<Series>& series, bool lines, bool log_x);

}  // namespace deeper::runners
