#!/usr/bin/env bash
# Installs the Debian 12 packages deeper needs (idempotent: installs only what is missing).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev ocl-icd-opencl-dev   # oneDNN 2.6; its CMake config needs OpenCL's
  libtbb-dev libyaml-cpp-dev libfmt-dev libcli11-dev catch2 zlib1g-dev nlohmann-json3-dev
  libjpeg62-turbo-dev libpng-dev   # image folders: JPEG through libjpeg-turbo, PNG
  libonnx-dev libprotobuf-dev      # ONNX export: the ONNX library, protobuf underneath
  dataset-fashion-mnist            # the embedded default data
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
