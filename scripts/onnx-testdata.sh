#!/bin/sh
# Installs Debian's ONNX backend test data (node/ and pytorch-converted/ cases) into
# /usr/share/libonnx-testdata/data, for the ONNX conformance tests. Needs root (or sudo).
set -eu
DATA=/usr/share/libonnx-testdata/data
if [ -d "$DATA/node" ]; then
    echo "libonnx-testdata already installed in $DATA"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends libonnx-testdata
test -d "$DATA/node"
echo "installed $DATA"
