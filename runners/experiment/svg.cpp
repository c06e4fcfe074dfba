#include "runners/experiment/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace deeper::runners {

namespace {

std::string escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '&') o += "&amp;";
        else if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else if (c == '"') o += "&quot;";
        else o += c;
    }
    return o;
}

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
    const double span = hi - lo > 0 ? hi - lo : 1;
    const double raw = span / 5, mag = std::pow(10, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (raw <= m * mag) {
            step = m * mag;
            break;
        }
    // Multiples of the step, not a running sum, and never a "-0" label.
    std::vector<double> t;
    for (double k = std::ceil(lo / step); k * step <= hi + step * 1e-9; ++k) t.push_back(k == 0 ? 0.0 : k * step);
    return t;
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

}  // namespace

std::string svg_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                     const std::vector<Series>& series, bool lines, bool log_x) {
    const double W = 720, H = 440, L = 70, R = 190, T = 40, B = 55;
    double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
    auto fx = [&](double x) { return log_x ? std::log10(std::max(x, 1e-12)) : x; };
    for (const auto& s : series)
        for (auto [x, y] : s.points) {
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            x0 = std::min(x0, fx(x)), x1 = std::max(x1, fx(x));
            y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    auto px = [&](double x) { return L + (fx(x) - x0) / (x1 - x0) * (W - L - R); };
    auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };

    std::string s = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        W, H, W, H);
    s += fmt::format("<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n", (W - R + L) / 2,
                     escape(title));
    // axes, grid and ticks
    for (double t : ticks(y0, y1)) {
        s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n", L, py(t), W - R, py(t));
        s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", L - 6, py(t) + 4, t);
    }
    for (double t : ticks(x0, x1)) {
        const double xv = log_x ? std::pow(10, t) : t;
        if (log_x && std::abs(t - std::round(t)) > 1e-9) continue;
        s += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#e5e5e5\"/>\n", px(xv), T, px(xv), H - B);
        s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n", px(xv), H - B + 16, xv);
    }
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n", L, T,
                     W - L - R, H - T - B);
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (W - R + L) / 2, H - 14,
                     escape(x_label + (log_x ? " (log scale)" : "")));
    s += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     (H - B + T) / 2, escape(y_label));
    // data and legend
    for (std::size_t i = 0; i < series.size(); ++i) {
        const char* c = kColors[i % 10];
        auto pts = series[i].points;
        std::sort(pts.begin(), pts.end());
        std::string path;
        for (auto [x, y] : pts) {
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", px(x), py(y));
            s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", px(x), py(y), lines ? 2 : 4, c);
        }
        if (lines && !path.empty())
            s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, c);
        const double ly = T + 10 + 18 * i;
        s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", W - R + 12, ly - 10, c);
        s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", W - R + 30, ly, escape(series[i].name));
    }
    return s + "</svg>\n";
}

}  // namespace deeper::runners
