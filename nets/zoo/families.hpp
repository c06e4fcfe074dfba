#pragma once
// Each family file adds its nets to the zoo table.
#include <vector>

#include "nets/zoo.hpp"

namespace deeper::nets::zoo_families {

void add_alexnet(std::vector<ZooEntry>& z);
void add_vgg(std::vector<ZooEntry>& z);
void add_googlenet(std::vector<ZooEntry>& z);
void add_resnet(std::vector<ZooEntry>& z);
void add_mobilenet(std::vector<ZooEntry>& z);
void add_efficientnet(std::vector<ZooEntry>& z);

// resnet<6n+2> / plain<6n+2> for any n (the CIFAR family of He et al. sec 4.2).
ZooEntry cifar_resnet_entry(int depth, bool residual);

}  // namespace deeper::nets::zoo_families
