// Inference timing: the median and quartiles of enough runs, read back from the machine's cache
// the second time (so a search does not time a net twice), keyed by what runs, not by names.
#include <catch2/catch.hpp>

#include "nets/zoo.hpp"
#include "runners/engine/inference_timing.hpp"
#include "support.hpp"

using namespace deeper;

namespace {

nets::Graph resnet8(double width) {
    nets::NetOptions o;
    o.resolution = 16;
    o.width = width;
    o.classes = 10;
    return nets::build_net("resnet8", o);
}

}  // namespace

TEST_CASE("a graph's fingerprint follows its architecture, not its names", "[engine][latency]") {
    const nets::Graph a = resnet8(0.5);
    nets::Graph renamed = a;
    for (auto& n : renamed.nodes) n.name += "_x";
    CHECK(runners::graph_fingerprint(a) == runners::graph_fingerprint(resnet8(0.5)));
    CHECK(runners::graph_fingerprint(a) == runners::graph_fingerprint(renamed));
    CHECK(runners::graph_fingerprint(a) != runners::graph_fingerprint(resnet8(0.25)));
    nets::Graph strided = a;
    for (auto& n : strided.nodes)
        if (auto* c = std::get_if<nets::ConvAttrs>(&n.attrs); c && c->kh == 3) {
            c->pad_b += 1;  // one padding changed
            break;
        }
    CHECK(runners::graph_fingerprint(a) != runners::graph_fingerprint(strided));
}

TEST_CASE("inference is timed over enough runs, then read back from the cache", "[engine][latency]") {
    test::TempDir dir("latency-cache");
    runners::InferenceTimingOptions o;
    o.cache_folder = dir.path().string();
    o.min_runs = 12;
    o.min_seconds = 0.05;
    const nets::Graph g = resnet8(0.5);
    const runners::InferenceTiming first = runners::time_inference(g, o);
    CHECK_FALSE(first.cached);
    CHECK(first.runs >= 12);
    CHECK(first.median_ms > 0);
    CHECK(first.p25_ms <= first.median_ms);
    CHECK(first.median_ms <= first.p75_ms);
    CHECK(first.seconds >= 0.05);
    CHECK(first.img_per_s() == Approx(1000.0 / first.median_ms));
    const runners::InferenceTiming again = runners::time_inference(g, o);
    CHECK(again.cached);
    CHECK(again.median_ms == first.median_ms);
    CHECK(again.p75_ms == first.p75_ms);
    CHECK(again.seconds == 0);
    // another batch is another measurement, and its images per second count the batch; no
    // cache, no reading back
    o.batch = 2;
    const runners::InferenceTiming two = runners::time_inference(g, o);
    CHECK_FALSE(two.cached);
    CHECK(two.img_per_s() == Approx(2 * 1000.0 / two.median_ms));
    CHECK(runners::time_inference(g, o).img_per_s() == two.img_per_s());  // read back: the same batch
    o.cache_folder = "off";
    CHECK_FALSE(runners::time_inference(g, o).cached);
}
