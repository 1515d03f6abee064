#!/bin/sh
# Installs the independent tools some tests compare against (ImageMagick decodes PNGs the engine writes).
# Tests that need a tool which is absent are reported as ignored, not passed.
set -eu
if [ ! -x /usr/bin/convert ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends imagemagick
fi
/usr/bin/convert -version | head -n 1
