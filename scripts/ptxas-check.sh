#!/usr/bin/env bash
# Assembles every kernels/*.ptx with ptxas for each GPU target we claim; fails on any error or register spill.
# ptxas comes from Debian's non-free nvidia-cuda-toolkit (CUDA 11.8), unpacked (not installed) into
# /opt/cuda-ptxas the first time (needs root then; see shared/design/CUDA.md). PTXAS=/path/to/ptxas overrides.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
targets=(sm_60 sm_70 sm_75 sm_80 sm_86 sm_89 sm_90)
prefix=/opt/cuda-ptxas
ptxas="${PTXAS:-$prefix/usr/bin/ptxas}"

obtain_ptxas() {
    [[ -x "$ptxas" ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "ptxas-check: $ptxas is missing and unpacking it needs root" >&2
        exit 1
    fi
    local sources=/etc/apt/sources.list.d/debian.sources
    if [[ -f $sources ]] && grep -q '^Components: main$' "$sources"; then
        sed -i 's/^Components: main$/Components: main contrib non-free/' "$sources"
    fi
    apt-get update -qq
    local work
    work="$(mktemp -d)"
    chmod 755 "$work"
    (cd "$work" && apt-get download -qq nvidia-cuda-toolkit && dpkg -x nvidia-cuda-toolkit_*.deb "$prefix")
    rm -rf "$work"
    [[ -x "$ptxas" ]] || { echo "ptxas-check: nvidia-cuda-toolkit did not provide $ptxas" >&2; exit 1; }
}

obtain_ptxas
"$ptxas" --version | tail -n 1

shopt -s nullglob
kernels=("$root"/kernels/*.ptx)
if [[ ${#kernels[@]} -eq 0 ]]; then
    echo "ptxas-check: no kernels found in $root/kernels" >&2
    exit 1
fi

failures=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for kernel in "${kernels[@]}"; do
    for target in "${targets[@]}"; do
        if ! "$ptxas" -v --gpu-name "$target" -o /dev/null "$kernel" >"$log" 2>&1; then
            echo "FAIL $(basename "$kernel") $target: ptxas error" >&2
            cat "$log" >&2
            failures=$((failures + 1))
            continue
        fi
        # -v prints "N bytes spill stores, M bytes spill loads" per entry; any non-zero count is a failure.
        if grep -Eq '[1-9][0-9]* bytes spill (stores|loads)' "$log"; then
            echo "FAIL $(basename "$kernel") $target: register spills" >&2
            grep -E 'Compiling entry|spill' "$log" >&2
            failures=$((failures + 1))
            continue
        fi
        entries=$(grep -c "Compiling entry function" "$log" || true)
        maxreg=$(grep -Eo 'Used [0-9]+ registers' "$log" | grep -Eo '[0-9]+' | sort -n | tail -n 1)
        echo "ok   $(basename "$kernel") $target: $entries entries, at most ${maxreg:-0} registers, no spills"
    done
done

if [[ $failures -gt 0 ]]; then
    echo "ptxas-check: $failures kernel/target combinations failed" >&2
    exit 1
fi
echo "ptxas-check: ${#kernels[@]} kernel files x ${#targets[@]} targets assembled without errors or spills"
