#!/bin/sh
# Installs Debian's chromium for the report test (the training report page is rendered with
# chromium --headless --dump-dom). Needs root (or sudo). Prints how long the install took.
set -eu
if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
started=$(date +%s)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
echo "installed $(chromium --version 2>/dev/null) in $(( $(date +%s) - started )) s"
