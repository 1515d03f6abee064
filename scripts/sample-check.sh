#!/usr/bin/env bash
# Packs the Engine libraries into artifacts/packages, builds samples/Predict against those packages (not the
# projects), publishes it trimmed and self-contained for linux-x64 with every trimming/AOT-analysis warning an error,
# runs the published program and checks what it prints. Needs only the .NET 10 SDK (the linux-x64 runtime pack and
# ILLink restore from NuGet).
# Usage: scripts/sample-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

feed=artifacts/packages
out=artifacts/sample-publish
# A fresh prerelease version per run, so NuGet's global cache never serves packages from an earlier run.
suffix="local.$(date -u +%Y%m%d%H%M%S)"
version="0.1.0-${suffix}"
mkdir -p "$feed"
rm -f "$feed"/Engine.*.nupkg
rm -rf "$out" samples/Predict/bin samples/Predict/obj

started=$SECONDS
# samples/Engine.Packages.slnf: the five libraries, packed in one build.
dotnet pack samples/Engine.Packages.slnf -c Release -warnaserror --version-suffix "$suffix" -o "$feed" --nologo -v quiet
echo "sample-check: packed in $((SECONDS - started)) s: $(ls "$feed"/Engine.*"$version".nupkg | xargs -n1 basename | tr '\n' ' ')"

if ! command -v unzip > /dev/null; then
    # CI runs as root on a fresh Debian machine.
    apt-get update -qq && apt-get install -y -qq unzip > /dev/null
fi
# Each package must carry its README, licence, description and XML docs.
for package in "$feed"/Engine.*"$version".nupkg; do
    listing=$(unzip -l "$package")
    nuspec=$(unzip -p "$package" '*.nuspec')
    name=$(basename "$package" ".${version}.nupkg")
    for needed in README.md "lib/net10.0/${name}.xml" "lib/net10.0/${name}.dll"; do
        grep -q "$needed" <<<"$listing" || { echo "sample-check: $package lacks $needed"; exit 1; }
    done
    for needed in '<license type="expression">MIT</license>' '<readme>README.md</readme>' '<description>' '<repository type="git"'; do
        grep -qF "$needed" <<<"$nuspec" || { echo "sample-check: $package's nuspec lacks $needed"; exit 1; }
    done
done

started=$SECONDS
publish=(-c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:EngineVersion="$version" -warnaserror)
dotnet publish samples/Predict "${publish[@]}" -o "$out" --nologo 2>&1 | tee artifacts/sample-publish.log
if grep -E "warning (IL|NU)[0-9]+" artifacts/sample-publish.log; then
    echo "sample-check: the publish shows trimming/AOT or NuGet warnings (above)"
    exit 1
fi

echo "sample-check: published in $((SECONDS - started)) s"
# The publish must hold no native library of ours: only the .NET runtime's own.
native=$(find "$out" -name '*.so' -printf '%f\n' | sort)
runtime_native=$(find "$out" -name '*.so' -printf '%f\n' | grep -vE '^(libSystem\..*|libclrjit|libcoreclr|libhostfxr|libhostpolicy|libclrgc|libclrgcexp|libmscordaccore|libmscordbi|libcoreclrtraceptprovider|libmicrosoft-dotnet-.*)\.so$' || true)
if [[ -n "$runtime_native" ]]; then
    echo "sample-check: unexpected native libraries in the publish: $runtime_native"
    exit 1
fi
echo "sample-check: native libraries in the publish (all the .NET runtime's): $(tr '\n' ' ' <<<"$native")"
if ls "$out" | grep -qE '^Engine\.(Cuda|Onnx)\.dll$'; then
    echo "sample-check: the sample should not carry Engine.Cuda or Engine.Onnx"
    exit 1
fi

output=$("$out/Predict")
echo "$output"
grep -q "self-check: the loaded model predicts exactly as the saved one" <<<"$output"
grep -qE "^  class [0-9]: [0-9.]+ ?%" <<<"$output"
set +e
"$out/Predict" /nonexistent.safetensors /nonexistent.png > /dev/null 2> artifacts/sample-error.txt
status=$?
set -e
[[ $status -eq 1 ]] && grep -q "does not exist" artifacts/sample-error.txt || {
    echo "sample-check: a missing file should end with exit code 1 and a clear message; got $status: $(cat artifacts/sample-error.txt)"
    exit 1
}
echo "sample-check: ok ($(du -sh "$out" | cut -f1) published, version $version)"
