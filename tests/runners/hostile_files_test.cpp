// Hostile files through the verbs that read or write them: decompression bombs, FIFOs and
// devices where a file is expected or would be written, checkpoints of another net or with
// impossible values, PNGs whose pixels libpng's simplified API would convert. Each gets exit 2
// and a message naming the file before any work (never a hang, a crash or gigabytes of memory).
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "runners/data/dataset.hpp"
#include "runners/data/image_decode.hpp"
#include "runners/engine/loss.hpp"
#include "runners/train/safetensors.hpp"
#include "support.hpp"
#include "support/image_files.hpp"

using deeper::test::run_cli;
using deeper::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A PNG chunk: length, type, data, CRC over type and data.
std::string png_chunk(const std::string& type, const std::string& data) {
    auto be32 = [](std::uint32_t v) {
        return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    };
    const std::string body = type + data;
    return be32(std::uint32_t(data.size())) + body +
           be32(std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
}

// 8-bit RGB, declaring side x side pixels, with a few bytes of IDAT: a decompression bomb.
std::string png_bomb(std::uint32_t side) {
    const std::string dims{char(side >> 24), char(side >> 16), char(side >> 8), char(side),
                           char(side >> 24), char(side >> 16), char(side >> 8), char(side)};
    return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", dims + std::string("\x08\x02\x00\x00\x00", 5)) +
           png_chunk("IDAT", std::string(12, '\0'));
}

// A small real JPEG whose frame header is made to say 65500 x 65500 and progressive (SOF2).
std::string jpeg_bomb(const TempDir& dir) {
    const auto pixels = deeper::test::gradient(16, 16);
    const std::string path = (dir.path() / "small.jpg").string();
    deeper::test::write_jpeg(path, 16, 16, 3, pixels.data());
    std::string bytes = deeper::test::slurp(path);
    const auto sof = bytes.find("\xFF\xC0");
    REQUIRE(sof != std::string::npos);
    bytes[sof + 1] = char(0xC2);
    for (std::size_t at : {sof + 5, sof + 7}) bytes[at] = char(0xFF), bytes[at + 1] = char(0xDC);  // 65500
    return bytes;
}

std::string train_args(const std::string& data, const std::string& out) {
    return "train resnet8 --data " + data + " --epochs 1 --threads 1 --batch 4 --val-size 4 --train-eval-size 8 --out " + out;
}

}  // namespace

TEST_CASE("decompression bombs in an image folder are refused from their headers, in bounded memory",
          "[hostile][images][cli]") {
    TempDir dir("bombs");
    for (const char* split : {"jpeg", "png"}) {
        deeper::test::write_split(dir.path() / split / "train", {"a", "b"}, 8);
        deeper::test::write_split(dir.path() / split / "test", {"a", "b"}, 1);
    }
    dir.write("jpeg/train/a/bomb.jpg", jpeg_bomb(dir));
    dir.write("png/train/b/bomb.png", png_bomb(37000));
    // 4 GiB of address space: decoding either bomb needs more (12.8 and 4.1 GB)
    const std::string small_memory = deeper::test::memory_limit(4194304);
    for (const char* cache : {"true", "false"}) {
        for (const char* kind : {"jpeg", "png"}) {
            const std::string folder = (dir.path() / kind).string();
            const auto r = run_cli(train_args(std::string("folder:") + folder + ",size=16,cache=" + cache,
                                              (dir.path() / "out").string()),
                                   small_memory);
            INFO(kind << " cache=" << cache << "\n" << r.out);
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.out, Catch::Contains("bomb.") && Catch::Contains("pixels is more than an image may have"));
            // skipped like any unreadable file, and counted
            const auto s = run_cli(train_args(std::string("folder:") + folder + ",size=16,skip_corrupt=true,cache=" + cache,
                                              (dir.path() / "out-skip").string()),
                                   small_memory);
            INFO(s.out);
            CHECK(s.exit_code == 0);
            fs::remove_all(dir.path() / "out-skip");
        }
    }
    // the ceiling is the folder's to raise: a 100 x 100 image over max_pixels=5000 is refused
    CHECK_THROWS_WITH(deeper::runners::data::decode_image(dir.write("hundred.png", png_bomb(100)), 0, 5000),
                      Catch::Contains("100 x 100 pixels is more than an image may have (5000"));
    const auto bad = run_cli(train_args("folder:" + (dir.path() / "png").string() + ",max_pixels=-1", "x"));
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.out, Catch::Contains("max_pixels=-1 is not a whole number of pixels"));
}

TEST_CASE("16-bit and alpha PNGs decode as torchvision reads them: samples scaled, alpha dropped",
          "[hostile][images]") {
    TempDir dir("png-depths");
    using deeper::runners::data::decode_image;
    const std::vector<std::uint16_t> rgb16 = {200 * 257, 100 * 257, 50 * 257};
    deeper::test::write_png((dir.path() / "rgb16.png").string(), 1, 1, PNG_FORMAT_LINEAR_RGB, rgb16.data());
    CHECK(decode_image((dir.path() / "rgb16.png").string()).rgb == std::vector<std::uint8_t>{200, 100, 50});
    const std::vector<std::uint16_t> gray16 = {30000};
    deeper::test::write_png((dir.path() / "gray16.png").string(), 1, 1, PNG_FORMAT_LINEAR_Y, gray16.data());
    CHECK(decode_image((dir.path() / "gray16.png").string()).rgb == std::vector<std::uint8_t>{117, 117, 117});
    const std::vector<std::uint8_t> rgba = {200, 100, 50, 128};
    deeper::test::write_png((dir.path() / "rgba.png").string(), 1, 1, PNG_FORMAT_RGBA, rgba.data());
    CHECK(decode_image((dir.path() / "rgba.png").string()).rgb == std::vector<std::uint8_t>{200, 100, 50});
    const std::vector<std::uint8_t> gray_alpha = {90, 0};
    deeper::test::write_png((dir.path() / "ga.png").string(), 1, 1, PNG_FORMAT_GA, gray_alpha.data());
    CHECK(decode_image((dir.path() / "ga.png").string()).rgb == std::vector<std::uint8_t>{90, 90, 90});
}

TEST_CASE("FIFOs and devices are neither read nor replaced; outputs are checked before any work",
          "[hostile][cli]") {
    TempDir dir("special-files");
    const std::string fifo = (dir.path() / "fifo").string(), device = (dir.path() / "null").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    const bool have_device = ::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;  // root only
    const std::string folder = (dir.path() / "folder").string();
    fs::create_directories(folder);
    const std::string exp = dir.write("exp.yaml", "name: e\ndefaults: {net: resnet8}\nstages:\n  - name: s\n    grid: {lr: [0.1]}\n");
    struct Case {
        std::string args, message;
    };
    std::vector<Case> cases = {
        {"count --spec " + fifo, "is a FIFO, not a text file"},
        {"check " + fifo, "is a FIFO, not a text file"},
        {"train --config " + fifo, "is a FIFO, not a text file"},
        {"eval --weights " + fifo, "is a FIFO, not a checkpoint file"},
        {train_args("synthetic:100", (dir.path() / "t").string()) + " --init " + fifo, "is a FIFO, not a checkpoint file"},
        {train_args("synthetic:100", (dir.path() / "t").string()) + " --init " + folder + "/", "is a folder, not a checkpoint file"},
        {"dump resnet8 --out " + fifo, "is a device, FIFO or socket"},
        {"dump resnet8 --out " + folder, "is a folder; give the file to write"},
        {"dump resnet8 --batch 0 --out " + (dir.path() / "d.safetensors").string(), "--batch"},
        {"dump resnet8 --batch -5 --out " + (dir.path() / "d.safetensors").string(), "--batch"},
        {"dump resnet8 --batch 2000000000 --out " + (dir.path() / "d.safetensors").string(), "--batch"},
        {"eval resnet8 --batch 0 --weights " + exp, "--batch"},
        {"eval resnet8 --weights " + exp + " --predictions /nonexistent/x.csv", "--predictions /nonexistent/x.csv: /nonexistent is not a folder"},
        {"eval resnet8 --weights " + exp + " --predictions " + fifo, "is a device, FIFO or socket"},
        {"export resnet18 --weights " + exp + " " + folder, "is a folder; give the file to write"},
    };
    if (have_device) {
        cases.push_back({"dump resnet8 --out " + device, "is a device, FIFO or socket"});
        cases.push_back({"eval --weights " + device, "is a character device, not a checkpoint file"});
        cases.push_back({"count --spec " + device, "is a character device, not a text file"});
    }
    for (const auto& c : cases) {
        const auto s = run_cli(c.args, "timeout 20");
        INFO(c.args << "\n" << s.out);
        CHECK(s.exit_code == 2);
        CHECK_THAT(s.out, Catch::Contains(c.message));
        CHECK_THAT(s.out, !Catch::Contains("internal error"));
    }
    struct stat st {};
    REQUIRE(::stat(fifo.c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));  // still a FIFO
    if (have_device) {
        REQUIRE(::stat(device.c_str(), &st) == 0);
        CHECK(S_ISCHR(st.st_mode));
    }
}

TEST_CASE("checkpoints of another net, with NaN weights or impossible metadata are refused by name",
          "[hostile][cli][eval]") {
    using namespace deeper::runners;
    TempDir dir("hostile-checkpoints");
    const std::string small = (dir.path() / "r8").string(), big = (dir.path() / "r14").string();
    for (const auto& [net, out] : {std::pair{"resnet8", small}, std::pair{"resnet14", big}}) {
        const auto t = run_cli(std::string("train ") + net + " --data synthetic:200 --val-size 20 --epochs 1 --batch 20 "
                               "--threads 1 --out " + out);
        INFO(t.out);
        REQUIRE(t.exit_code == 0);
    }
    const std::string ckpt = small + "/checkpoint.safetensors";
    // resnet14 holds every tensor resnet8 has, at the same shapes, and more
    auto r = run_cli("eval resnet8 --weights " + big + "/checkpoint.safetensors --threads 1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("tensor(s) the net resnet8 does not use, e.g. stage1.block2"));
    // --init that matches nothing
    r = run_cli("train plain8 --data synthetic:200 --val-size 20 --epochs 1 --batch 20 --threads 1 --init " +
                dir.write("other.safetensors", "") + " --out " + (dir.path() / "p").string());
    CHECK(r.exit_code == 2);
    SafeTensors st = read_safetensors(ckpt);
    SafeTensors renamed;
    for (auto& [name, t] : st.tensors) renamed.tensors["x." + name] = t;
    write_safetensors((dir.path() / "renamed.safetensors").string(), renamed);
    r = run_cli("train resnet8 --data synthetic:200 --val-size 20 --epochs 1 --batch 20 --threads 1 --init " +
                (dir.path() / "renamed.safetensors").string() + " --out " + (dir.path() / "i").string());
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("no tensor matches resnet8 by name and shape"));
    // NaN weights
    SafeTensors nan = st;
    nan.tensors.at("head.fc.weight").data[3] = std::numeric_limits<float>::quiet_NaN();
    write_safetensors((dir.path() / "nan.safetensors").string(), nan);
    r = run_cli("eval --weights " + (dir.path() / "nan.safetensors").string() + " --threads 1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("tensor head.fc.weight holds 1 NaN or infinite value(s)"));
    // a wrong shape with the same number of values says both shapes
    SafeTensors flat = st;
    auto& w = flat.tensors.at("head.fc.weight");
    w.shape = {w.shape[1], w.shape[0]};
    write_safetensors((dir.path() / "flat.safetensors").string(), flat);
    r = run_cli("eval --weights " + (dir.path() / "flat.safetensors").string() + " --threads 1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("has the shape 64x10 in the file, the net needs 10x64"));
    // normalization that cannot be undone
    for (const auto& [key, value] : {std::pair{"normalize_std", "0"}, std::pair{"normalize_mean", "nan"}}) {
        SafeTensors meta = st;
        meta.metadata[key] = value;
        write_safetensors((dir.path() / "meta.safetensors").string(), meta);
        r = run_cli("eval --weights " + (dir.path() / "meta.safetensors").string() + " --threads 1");
        INFO(key << "=" << value << "\n" << r.out);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.out, Catch::Contains("must be finite and a standard deviation above 0"));
    }
    // a checkpoint from epoch 999999 of a 1-epoch run
    SafeTensors late = st;
    late.metadata["epoch"] = "999999";
    write_safetensors(ckpt, late);
    r = run_cli("train --config " + small + "/config.yaml --resume --epochs 1");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("records epoch 999999 of a run of 1 epochs"));
}

TEST_CASE("safetensors with overlapping tensors, a repeated key or I64 weights are refused", "[hostile][eval]") {
    using namespace deeper::runners;
    TempDir dir("hostile-safetensors");
    auto file = [&](const std::string& name, const std::string& header, std::size_t data_bytes) {
        std::string h = header;
        while (h.size() % 8) h += ' ';
        std::string bytes(8, '\0');
        for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = char((std::uint64_t(h.size()) >> (8 * i)) & 0xFF);
        return dir.write(name, bytes + h + std::string(data_bytes, '\0'));
    };
    const auto overlap = file("overlap.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
    CHECK_THROWS_WITH(read_safetensors(overlap), Catch::Contains("tensors 'a' and 'b' share bytes"));
    const auto twice = file("twice.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
    CHECK_THROWS_WITH(read_safetensors(twice), Catch::Contains("names 'a' twice"));
    const auto i64 = file("i64.st", R"({"conv.weight":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8);
    CHECK_THROWS_WITH(read_safetensors(i64), Catch::Contains("tensor 'conv.weight' is I64"));
    const auto counter = file("counter.st", R"({"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", 8);
    CHECK(read_safetensors(counter).tensors.size() == 1);
}

TEST_CASE("a prediction with a NaN logit counts as wrong", "[hostile][loss]") {
    const float logits[2 * 3] = {std::nanf(""), 0.f, 0.f, 0.f, 1.f, std::numeric_limits<float>::infinity()};
    const std::int32_t labels[2] = {0, 1};
    const auto st = deeper::runners::softmax_cross_entropy(logits, labels, 2, 3, 0.f, 1.f, nullptr);
    CHECK(st.top1_correct == 0);
    CHECK(st.top5_correct == 0);
}

TEST_CASE("journals that are huge, not files, or name unknown events are refused by name", "[hostile][journal][cli]") {
    TempDir dir("hostile-journals");
    const std::string start = R"({"event":"start","trial":"t1","stage":"s","settings":{"net":"resnet8"},"time":1})";
    auto results = [&](const std::string& name) {
        const fs::path d = dir.path() / name;
        fs::create_directories(d / "journal");
        dir.write(name + "/experiment.yaml", "name: e\ndefaults: {net: resnet8}\nstages:\n  - name: s\n    grid: {lr: [0.1]}\n");
        return d;
    };
    // a sparse 4 GB journal: refused from its size, not read
    const fs::path sparse = results("sparse");
    {
        std::ofstream(sparse / "journal" / "local.jsonl") << start << "\n";
        fs::resize_file(sparse / "journal" / "local.jsonl", std::uintmax_t(4) << 30);
    }
    const fs::path zero = results("zero");
    fs::create_symlink("/dev/zero", zero / "journal" / "local.jsonl");
    const fs::path fifo = results("fifo");
    REQUIRE(::mkfifo((fifo / "journal" / "local.jsonl").c_str(), 0644) == 0);
    const fs::path loop = results("loop");
    fs::remove(loop / "journal");
    fs::create_symlink("journal", loop / "journal");
    const fs::path unknown = results("unknown");
    std::ofstream(unknown / "journal" / "local.jsonl") << start << "\n"
                                                       << R"({"event":"teleport","trial":"t1","time":2})" << "\n";
    const std::string small_memory = deeper::test::memory_limit(2097152) + " timeout 20";
    for (const auto& [d, message] : {std::pair{sparse, "4.0 GiB is larger than a journal file may be"},
                                     std::pair{zero, "is a character device, not a journal file"},
                                     std::pair{fifo, "is a FIFO, not a journal file"},
                                     std::pair{loop, "Too many levels of symbolic links"},
                                     std::pair{unknown, "local.jsonl:2: unknown journal event 'teleport'"}}) {
        for (const char* verb : {"status", "report"}) {
            const auto r = run_cli(std::string(verb) + " " + d.string(), small_memory);
            INFO(verb << " " << d << "\n" << r.out);
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.out, Catch::Contains(message));
        }
    }
}

TEST_CASE("image folders: symlink loops named, class sets checked against train's, annotations consistent",
          "[hostile][images]") {
    using deeper::runners::data::load;
    TempDir dir("hostile-folders");
    const fs::path root = dir.path() / "set";
    deeper::test::write_split(root / "train", {"a", "b"}, 2);
    deeper::test::write_split(root / "test", {"a", "b"}, 1);
    const std::string spec = "folder:" + root.string() + ",size=16";
    // 200 empty class folders are no classes
    for (int i = 0; i < 200; ++i) fs::create_directories(root / "train" / ("empty" + std::to_string(i)));
    CHECK(load(spec).train.classes == 2);
    // a test class train lacks is named, not dropped
    deeper::test::write_split(root / "test", {"zebra"}, 1);
    CHECK_THROWS_WITH(load(spec), Catch::Contains("class 'zebra' has images here but none in train/"));
    fs::remove_all(root / "test" / "zebra");
    // a symlink loop among the files
    fs::create_symlink("loop.png", root / "train" / "a" / "loop.png");
    CHECK_THROWS_WITH(load(spec), Catch::Contains("loop.png: cannot read (Too many levels of symbolic links)"));
    fs::remove(root / "train" / "a" / "loop.png");
    // Tiny-ImageNet's val list naming one file twice with two classes
    const fs::path val = root / "val";
    deeper::test::write_split(dir.path() / "val-src", {"images"}, 2);
    fs::create_directories(val);
    fs::rename(dir.path() / "val-src" / "images", val / "images");
    std::vector<std::string> names;
    for (const auto& f : fs::directory_iterator(val / "images")) names.push_back(f.path().filename().string());
    REQUIRE(names.size() == 2);
    std::ofstream(val / "val_annotations.txt") << names[0] << "\ta\t0\t0\t1\t1\n"
                                               << names[1] << "\tb\t0\t0\t1\t1\n"
                                               << names[0] << "\tb\t0\t0\t1\t1\n";
    CHECK_THROWS_WITH(load(spec), Catch::Contains("val_annotations.txt:3: " + names[0] + " is labelled 'b' here and 'a' at line 1"));
}

TEST_CASE("a folder holding only val/<class>/ evaluates, and training from it says why it cannot",
          "[hostile][images][cli]") {
    TempDir dir("val-only");
    deeper::test::write_split(dir.path() / "full" / "train", {"a", "b"}, 8);
    deeper::test::write_split(dir.path() / "only" / "val", {"a", "b"}, 3);
    const std::string out = (dir.path() / "run").string();
    auto r = run_cli(train_args("folder:" + (dir.path() / "full").string() + ",size=16", out));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    const std::string only = "folder:" + (dir.path() / "only").string() + ",size=16";
    r = run_cli("eval --weights " + out + "/checkpoint.safetensors --data " + only + " --split val --threads 1");
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("(val): 6 images"));
    r = run_cli(train_args(only, (dir.path() / "run2").string()));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("has no training images (an image folder trains from train/<class>/"));
    // test/ alone, likewise
    deeper::test::write_split(dir.path() / "only-test" / "test", {"a", "b"}, 2);
    r = run_cli("eval --weights " + out + "/checkpoint.safetensors --data folder:" + (dir.path() / "only-test").string() +
                ",size=16 --split test --threads 1");
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("(test): 4 images"));
}
