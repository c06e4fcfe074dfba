#include "runners/status_line.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

namespace deeper::runners {

bool smart_terminal() {
    const char* term = std::getenv("TERM");
    return isatty(STDOUT_FILENO) && term && std::string(term) != "dumb";
}

std::string duration(double seconds) {
    const int t = int(std::max(0.0, seconds) + 0.5);
    return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                     : fmt::format("{}:{:02}", t / 60, t % 60);
}

std::string progress_text(const Progress& p, bool bar) {
    if (p.epochs == 0) return "preparing (data, net compile)";
    std::string s = fmt::format("epoch {}/{}", p.epoch, p.epochs);
    if (bar) {
        const int width = 24, done = int(width * p.batch / std::max<std::size_t>(1, p.batches));
        s += fmt::format(" [{}{}] {}/{}", std::string(done, '='), std::string(width - done, ' '), p.batch, p.batches);
    }
    return s + fmt::format(" {:.0f} img/s loss {:.4f} ETA {}", p.img_per_s, p.loss, duration(p.eta_s));
}

namespace {

int terminal_columns() {
    winsize w{};
    return ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0 ? w.ws_col : 80;
}

// Terminal lines `text` takes: each line wraps every `columns` characters.
int lines_taken(const std::string& text, int columns) {
    int lines = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find('\n', start);
        const std::size_t len = (end == std::string::npos ? text.size() : end) - start;
        lines += std::max<int>(1, int((len + columns - 1) / columns));
        if (end == std::string::npos) return lines;
        start = end + 1;
    }
}

}  // namespace

SweepStatus::SweepStatus(LiveTrials& live, bool enabled) : live_(live) {
    if (!enabled) return;
    smart_ = smart_terminal();
    thread_ = std::thread([this] { loop(); });
}

SweepStatus::~SweepStatus() {
    {
        std::lock_guard l(m_);
        quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (!smart_ || drawn_lines_ == 0) return;
    if (drawn_lines_ > 1) std::cout << "\x1b[" << drawn_lines_ - 1 << "A";
    std::cout << "\r\x1b[J" << std::flush;  // what follows is printed where the block was
}

void SweepStatus::loop() {
    std::unique_lock l(m_);
    while (!quit_) {
        cv_.wait_for(l, std::chrono::seconds(smart_ ? 1 : 10));
        if (quit_) break;
        std::string s;
        {
            std::lock_guard g(live_.m);
            s = fmt::format("sweep: {} done, {} running, {} failed, {} pending", live_.done, live_.running.size(),
                            live_.failed, live_.total - live_.done - live_.failed - int(live_.running.size()));
            for (const auto& [id, p] : live_.running)
                s += (smart_ ? "\n  " : " | ") + id + " " + progress_text(p, false);
        }
        if (!smart_) {
            std::cout << s << std::endl;
            continue;
        }
        // Back to the top of the last block (ESC[0A would still move one line), clear, redraw.
        if (drawn_lines_ > 1) std::cout << "\x1b[" << drawn_lines_ - 1 << "A";
        std::cout << "\r\x1b[J" << s << std::flush;
        drawn_lines_ = lines_taken(s, terminal_columns());
    }
}

}  // namespace deeper::runners
