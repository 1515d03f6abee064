#!/bin/sh
# Surveys the ONNX backend-test cases of libonnx-testdata (node/ and pytorch-converted/) with the current importer
# and writes ${TMPDIR:-/tmp}/onnx-cases.generated.txt: "run CASE" for passing cases, "exclude CASE: reason" for the
# others (failures read "FAILED <error>"; replace each with a reviewed reason before copying into cases.txt).
# Usage: scripts/onnx-cases.sh   (run scripts/onnx-testdata.sh first)
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA=/usr/share/libonnx-testdata/data
OUT="${TMPDIR:-/tmp}/onnx-cases.generated.txt"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/survey.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings>
    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup>
    <ProjectReference Include="$ROOT/Engine.Core/Engine.Core.csproj" />
    <ProjectReference Include="$ROOT/Engine.Cpu/Engine.Cpu.csproj" />
    <ProjectReference Include="$ROOT/Engine.Onnx/Engine.Onnx.csproj" />
  </ItemGroup>
</Project>
XML
cat > "$WORK/Program.cs" <<'CS'
File.WriteAllLines(args[1], Engine.Onnx.OnnxConformance.Survey(args[0], ["node", "pytorch-converted"], new Engine.Cpu.CpuBackend(2)));
CS
dotnet run -c Release --project "$WORK/survey.csproj" -- "$DATA" "$OUT"
echo "wrote $OUT: $(grep -c '^run' "$OUT") run"
