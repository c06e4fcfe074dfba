#pragma once
// Image folders as torchvision's ImageFolder reads them, either decoded into memory once at one
// size (sets that fit: Tiny-ImageNet's 100,000 images at 64x64 take 1.2 GB) or streamed: every
// file's header checked up front, the files decoded by the loader whenever a batch needs them
// (ImageNet: 1.28 million images would take 180 GB decoded). Layouts:
//   DIR/train/<class>/*, and when present DIR/val/<class>/* (the validation set; without it
//   --val-size is held out of train) and DIR/test/<class>/* (the test set);
//   Tiny-ImageNet-200: DIR/train/<class>/images/*, DIR/val/images/* labelled by
//   DIR/val/val_annotations.txt;
//   DIR/<class>/* (the root ImageFolder itself takes): one split, the training set.
// Classes are the sorted folder names under train; files are .jpg, .jpeg or .png (any case),
// in sorted order. Cached, each image is resized (shorter side) and center-cropped to `size`;
// streamed, `size` is only the nominal side (the net's default resolution).
#include <cstdint>
#include <string>

#include "runners/data/image_decode.hpp"

#include "runners/data/dataset.hpp"

namespace deeper::runners::data {

enum class FolderCache {
    automatic,  // in memory when the decoded set takes at most a quarter of the available memory
    memory,
    stream,
};

struct FolderOptions {
    int size = 64;              // stored side in pixels
    FolderCache cache = FolderCache::automatic;
    bool skip_corrupt = false;  // skip (and count) unreadable files instead of refusing the set
    std::uint64_t max_pixels = kMaxImagePixels;  // an image declaring more is refused (a decompression bomb)
};

TrainTest load_image_folder(const std::string& dir, const FolderOptions& o);

}  // namespace deeper::runners::data
