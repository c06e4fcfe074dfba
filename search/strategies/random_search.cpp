#include "search/strategies/strategies.hpp"

namespace deeper::search {

namespace {

class RandomSearch final : public Strategy {
public:
    explicit RandomSearch(const SearchSpace& space) : space_(space) {}
    Point propose(const std::vector<Observation>&, Rng& rng) const override { return space_.sample(rng); }

private:
    const SearchSpace& space_;
};

}  // namespace

std::unique_ptr<Strategy> random_search(const SearchSpace& space) { return std::make_unique<RandomSearch>(space); }

}  // namespace deeper::search
