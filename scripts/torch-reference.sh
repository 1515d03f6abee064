#!/usr/bin/env bash
# Writes the torchvision reference data of Engine.Tests/Models/TorchReferenceTests.cs into artifacts/torch-reference
# (outside git) with Debian's python3-torch and python3-torchvision, installing them with apt-get when missing
# (CI runs as root on a fresh Debian machine). Arguments go to scripts/torch-reference.py: --all for every variant
# (about 5.7 GB and 4 minutes), or model names; --out DIR elsewhere.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=/usr/bin/python3

if ! "$python" -c 'import torch, torchvision' 2> /dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "torch-reference: $python cannot import torch and torchvision, and installing them (apt-get install python3-torch python3-torchvision) needs root" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-torchvision > /dev/null
fi
exec "$python" "$root/scripts/torch-reference.py" "$@"
