#pragma once
// torchvision's state_dict names for the zoo nets torchvision has, so that its pretrained
// weights load (`--init`, `deeper eval --weights`) and deeper's weights go back
// (`deeper export --to torchvision`). The layouts agree (conv O x I x kH x kW, linear out x in,
// BN weight, bias, running mean and variance), so the mapping is a renaming. Nets so far: the
// ImageNet ResNets (resnet18, 34, 50, 101, 152), mobilenet-v2, alexnet, VGG A, B, D and E with or
// without BN (vgg11, 13, 16, 19 and their _bn), googlenet-tv and efficientnet-b0 to b7 (whose BN
// epsilon is TensorFlow's 1e-3 here, torchvision's 1e-5: the same weights, slightly other outputs). torchvision's BN num_batches_tracked
// (int64) has no counterpart here: ignored on the way in, written on the way out.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runners/train/safetensors.hpp"

namespace deeper::runners {

// Whether torchvision has the net (by deeper's zoo name).
bool has_torchvision_names(const std::string& net);
// torchvision's name for one of the net's parameters (nullopt: the net is not one torchvision
// has, or the parameter has no counterpart there). `batchnorm`: VGG's variant with BN, whose
// layer indices differ (vgg11_bn against vgg11).
std::optional<std::string> torchvision_name(const std::string& net, const std::string& name, bool batchnorm = false);
// A parameter in a weights file, under deeper's name or else torchvision's; nullopt when absent.
// `used` collects the file's tensors it read (a VGG-BN conv bias folded into its BN's mean too).
std::optional<Tensor> find_weights(const SafeTensors& file, const std::string& net, const std::string& name,
                                   std::set<std::string>* used = nullptr);
// The file's tensors that none of `used` accounts for, leaving out optimizer state and BN
// counters (num_batches_tracked): weights meant for another net, or for other knobs.
std::vector<std::string> unused_tensors(const SafeTensors& file, const std::set<std::string>& used);
// A deeper checkpoint's weights under torchvision's names (optimizer state left out), with each
// BN's num_batches_tracked (the checkpoint's step count), ready for load_state_dict. Throws
// InputError for a net torchvision does not have or a tensor with no counterpart.
SafeTensors to_torchvision(const SafeTensors& checkpoint, const std::string& net);

}  // namespace deeper::runners
