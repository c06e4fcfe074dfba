#pragma once
// The report's figures, written as SVG by hand: lines (a metric against epochs per trial group:
// ResNet Fig. 1/6), points (a metric against MACs: EfficientNet's scaling figures, log x) and
// categories (a metric per configuration, VGG's Table 3 as a figure); either axis of the first two
// may be logarithmic. Where a point pools several seeds it shows their spread: a shaded band
// around a line, whiskers around a point.
#include <cmath>
#include <string>
#include <vector>

namespace deeper::runners {

struct Point {
    double x = 0, y = 0;
    double err = NAN;  // the standard deviation of y over seeds; NAN: a single trial
    bool operator<(const Point& o) const { return x < o.x; }
};

struct Series {
    std::string name;
    std::vector<Point> points;
    std::vector<Point> front;  // set: the line runs through these (a Pareto front), whatever the marks
};

// How a series is drawn: a curve (small dots, a line, the spread as a band), dots (each with
// whiskers for its spread) or dots joined by a line in x order.
enum class Marks { curve, dots, joined_dots };

// Which axes are logarithmic: x for MACs spanning decades, y for errors and losses falling
// towards zero, where a linear axis flattens the end of training into one line.
struct Axes {
    bool log_x = false, log_y = false;
};

// On a log y axis, values at or below zero cannot be drawn: they are left out and the y label
// says how many; a band or whisker reaching below zero is cut at the axis.
std::string svg_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                     const std::vector<Series>& series, Marks marks, Axes axes);

// One column per category: every trial's value as a hollow dot, the mean as a bar-free filled
// dot with mean ± std whiskers (dots, not bars: accuracies near 0.9 need an axis that does not
// start at zero, and a bar from an arbitrary baseline misleads).
struct Category {
    std::string name;
    std::vector<double> values;  // one per trial
    double mean = NAN, err = NAN;  // err: their standard deviation (NAN: one trial)
};
std::string svg_categories(const std::string& title, const std::string& y_label,
                           const std::vector<Category>& categories);

}  // namespace deeper::runners
