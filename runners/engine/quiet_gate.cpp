#include "runners/engine/quiet_gate.hpp"

namespace deeper::runners {

QuietGate::Work::Work(QuietGate& g) : g_(g) {
    std::unique_lock l(g_.m_);
    g_.cv_.wait(l, [&] { return !g_.quiet_; });
    ++g_.working_;
}

QuietGate::Work::~Work() {
    {
        std::lock_guard l(g_.m_);
        --g_.working_;
    }
    g_.cv_.notify_all();
}

QuietGate::Quiet::Quiet(QuietGate& g) : g_(g) {
    std::unique_lock l(g_.m_);
    g_.cv_.wait(l, [&] { return !g_.quiet_; });  // another timing's turn first
    g_.quiet_ = true;                             // from here on, new work waits
    g_.cv_.wait(l, [&] { return g_.working_ == 0; });
}

QuietGate::Quiet::~Quiet() {
    {
        std::lock_guard l(g_.m_);
        g_.quiet_ = false;
    }
    g_.cv_.notify_all();
}

int QuietGate::working() const {
    std::lock_guard l(m_);
    return working_;
}

QuietGate& process_quiet_gate() {
    static QuietGate g;
    return g;
}

}  // namespace deeper::runners
