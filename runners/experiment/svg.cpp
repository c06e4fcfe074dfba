#include "runners/experiment/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
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

// Round values in [10^lo, 10^hi] for a log axis: powers of ten, else 1-2-5 of each decade, else
// 1-2-3-5, else every digit, whichever first gives three ticks (a scaling figure spans less than
// a decade).
std::vector<double> log_ticks(double lo, double hi) {
    std::vector<double> t;
    for (const std::vector<int>& mantissas :
         {std::vector<int>{1}, {1, 2, 5}, {1, 2, 3, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
        t.clear();
        for (int e = int(std::floor(lo)); e <= int(std::ceil(hi)); ++e)
            for (int m : mantissas) {
                const double v = m * std::pow(10.0, e), l = std::log10(v);
                if (l >= lo - 1e-9 && l <= hi + 1e-9) t.push_back(v);
            }
        if (t.size() >= 3) break;
    }
    return t;
}

// 25000000 -> "25M": MACs and parameter counts read in thousands, millions and billions.
std::string si_label(double v) {
    if (v >= 1e9) return fmt::format("{:g}G", v / 1e9);
    if (v >= 1e6) return fmt::format("{:g}M", v / 1e6);
    if (v >= 1e3) return fmt::format("{:g}k", v / 1e3);
    return fmt::format("{:g}", v);
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// The drawing area and its data ranges; maps data to pixels. x is already log10'd when log_x.
struct Frame {
    double W = 720, H = 440, L = 70, R = 190, T = 40, B = 55;
    double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;

    void include(double x, double y) {
        if (!std::isfinite(x) || !std::isfinite(y)) return;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
    // Ranges that are never empty, y padded by 5%; x by x_pad (points and whiskers clear the box).
    void settle(double x_pad) {
        if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
        if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
        if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
        const double pad = (y1 - y0) * 0.05, xpad = (x1 - x0) * x_pad;
        y0 -= pad, y1 += pad;
        x0 -= xpad, x1 += xpad;
    }
    double px(double x) const { return L + (x - x0) / (x1 - x0) * (W - L - R); }
    double py(double y) const { return H - B - (y - y0) / (y1 - y0) * (H - T - B); }

    // The header, title, y grid and labels, box and axis labels; x ticks are the caller's. On a
    // log y axis y0 and y1 are already log10'd.
    std::string open(const std::string& title, const std::string& x_label, const std::string& y_label,
                     bool log_y = false) const {
        std::string s = fmt::format(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
            W, H, W, H);
        // a long title shrinks to fit the width (about 0.55 em per character), centered on the page
        const double size = std::min(15.0, (W - 20) / (0.55 * double(std::max<std::size_t>(title.size(), 1))));
        s += fmt::format("<text x=\"{}\" y=\"22\" font-size=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", W / 2,
                         size, escape(title));
        for (double v : log_y ? log_ticks(y0, y1) : ticks(y0, y1)) {
            const double t = log_y ? std::log10(v) : v;
            s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n", L, py(t),
                             W - R, py(t));
            s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", L - 6, py(t) + 4, v);
        }
        s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n", L, T,
                         W - L - R, H - T - B);
        s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (W - R + L) / 2, H - 14,
                         escape(x_label));
        s += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                         (H - B + T) / 2, escape(y_label));
        return s;
    }
    std::string x_tick(double x, const std::string& label) const {
        return fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#e5e5e5\"/>\n", px(x), T, px(x),
                           H - B) +
               fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(x), H - B + 16,
                           escape(label));
    }
    std::string legend(std::size_t i, const std::string& name) const {
        const double ly = T + 10 + 18 * double(i);
        return fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", W - R + 12, ly - 10,
                           kColors[i % 10]) +
               fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", W - R + 30, ly, escape(name));
    }
    std::string whisker(double x, double lo, double hi, const char* color) const {
        return fmt::format("<path d=\"M{0:.1f},{1:.1f}V{2:.1f}M{3:.1f},{1:.1f}H{4:.1f}M{3:.1f},{2:.1f}H{4:.1f}\" "
                           "stroke=\"{5}\" fill=\"none\"/>\n",
                           px(x), py(lo), py(hi), px(x) - 4, px(x) + 4, color);
    }
};

bool has_err(const Point& p) { return std::isfinite(p.err); }

}  // namespace

std::string svg_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                     const std::vector<Series>& series, Marks marks, Axes axes) {
    const bool curve = marks == Marks::curve;
    auto fx = [&](double x) { return axes.log_x ? std::log10(std::max(x, 1e-12)) : x; };
    // y where it is drawn; NAN where a log axis cannot show it (the frame skips those)
    auto fy = [&](double y) { return !axes.log_y ? y : y > 0 ? std::log10(y) : NAN; };
    Frame f;
    std::size_t longest = 0;  // the legend's widest name widens the page, not the plot
    for (const auto& s : series) longest = std::max(longest, s.name.size());
    f.R = std::max(f.R, 40 + 7.0 * double(longest));
    f.W = 530 + f.R;
    std::size_t not_shown = 0;
    for (const auto& s : series)
        for (const auto& p : s.points) {
            not_shown += std::isfinite(p.y) && !std::isfinite(fy(p.y));
            f.include(fx(p.x), fy(p.y));
            if (has_err(p)) f.include(fx(p.x), fy(p.y - p.err)), f.include(fx(p.x), fy(p.y + p.err));
        }
    f.settle(curve ? 0.0 : 0.04);  // a curve starts at its first epoch; dots need room
    std::string y_axis = y_label;
    if (axes.log_y)
        y_axis += not_shown ? fmt::format(" (log scale; {} value(s) at or below 0 not shown)", not_shown)
                            : " (log scale)";
    std::string s = f.open(title, x_label + (axes.log_x ? " (log scale)" : ""), y_axis, axes.log_y);
    if (axes.log_x)
        for (double v : log_ticks(f.x0, f.x1)) s += f.x_tick(std::log10(v), si_label(v));
    else
        for (double t : ticks(f.x0, f.x1)) s += f.x_tick(t, fmt::format("{:g}", t));
    for (std::size_t i = 0; i < series.size(); ++i) {
        const char* c = kColors[i % 10];
        auto pts = series[i].points;
        std::stable_sort(pts.begin(), pts.end());
        std::erase_if(pts, [&](const Point& p) { return !std::isfinite(p.x) || !std::isfinite(fy(p.y)); });
        std::string path, upper, lower;
        for (const auto& p : pts) {
            const double x = f.px(fx(p.x)), y = fy(p.y);
            path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", x, f.py(y));
            s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", x, f.py(y),
                             curve ? 2 : 4, c);
            if (!has_err(p)) continue;
            const double hi = fy(p.y + p.err), below = fy(p.y - p.err);
            const double lo = std::isfinite(below) ? below : f.y0;  // cut at the axis on a log scale
            if (!curve) s += f.whisker(fx(p.x), lo, hi, c);
            upper += fmt::format(" {:.1f},{:.1f}", x, f.py(hi));
            lower = fmt::format(" {:.1f},{:.1f}", x, f.py(lo)) + lower;
        }
        if (curve && !upper.empty())
            s += fmt::format("<polygon points=\"{}{}\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\"/>\n", upper,
                             lower, c);
        if (!series[i].front.empty()) {
            auto front = series[i].front;
            std::stable_sort(front.begin(), front.end());
            path.clear();
            for (const auto& p : front)
                if (std::isfinite(p.x) && std::isfinite(fy(p.y)))
                    path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", f.px(fx(p.x)), f.py(fy(p.y)));
        }
        if ((marks != Marks::dots || !series[i].front.empty()) && !path.empty())
            s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, c);
        s += f.legend(i, series[i].name);
    }
    return s + "</svg>\n";
}

std::string svg_categories(const std::string& title, const std::string& y_label,
                           const std::vector<Category>& categories) {
    Frame f;
    f.R = 30;
    f.L = 150;  // room for slanted category names, which run down and to the left
    f.B = 130;
    f.H = 500;
    const double n = double(categories.size());
    for (std::size_t i = 0; i < categories.size(); ++i)
        for (double v : categories[i].values) f.include(double(i), v);
    for (std::size_t i = 0; i < categories.size(); ++i) {
        const auto& c = categories[i];
        if (std::isfinite(c.err)) f.include(double(i), c.mean - c.err), f.include(double(i), c.mean + c.err);
    }
    f.x0 = -0.5, f.x1 = std::max(n - 0.5, 0.5);
    f.settle(0.0);  // the categories set x
    std::string s = f.open(title, "", y_label);
    for (std::size_t i = 0; i < categories.size(); ++i) {
        const auto& cat = categories[i];
        const char* c = kColors[i % 10];
        const double x = f.px(double(i));
        s += fmt::format("<text transform=\"translate({:.1f},{}) rotate(-30)\" text-anchor=\"end\">{}</text>\n", x,
                         f.H - f.B + 16, escape(cat.name));
        for (double v : cat.values)
            if (std::isfinite(v))
                s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"none\" stroke=\"{}\"/>\n",
                                 x + 10, f.py(v), c);
        if (!std::isfinite(cat.mean)) continue;
        s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/>\n", x, f.py(cat.mean), c);
        if (std::isfinite(cat.err)) s += f.whisker(double(i), cat.mean - cat.err, cat.mean + cat.err, c);
    }
    return s + "</svg>\n";
}

}  // namespace deeper::runners
