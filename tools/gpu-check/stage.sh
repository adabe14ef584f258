#!/usr/bin/env bash
# Packs the CUDA check for a GPU machine that has no .NET and takes at most 64 MiB of files per command (the working
# tree, about 20 MiB, included): see README.md here for the plan. Run on the build machine, from anywhere:
#
#   tools/gpu-check/stage.sh            # writes out/gpu-stage/: app.tar.xz and provider.gz.part-NN (each < 40 MiB)
#
# app.tar.xz:   GpuCheck built against the GPU package (framework-dependent), the .NET runtime it runs on (the host,
#               hostfxr and Microsoft.NETCore.App of this machine's dotnet), libonnxruntime.so and the shared
#               provider library, and the Stable Diffusion test UNet with its channel dimension fixed.
# provider.gz.part-NN: libonnxruntime_providers_cuda.so (284 MB) compressed with gzip and cut into pieces, one per
#               command. gzip, not xz: the provider's GPU code is compressed already, so xz gains little (zstd -12 gets
#               188 MB) and took over 40 minutes on 2 busy cores; gzip takes about a minute and every machine unpacks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
stage="$root/out/gpu-stage"
part_bytes=$((40 * 1024 * 1024))
sd=/work/shared/reference/pipelines/sd-tiny-legacy/model

cd "$root"
dotnet build tools/gpu-check/GpuCheck -c Release -p:OnnxRuntimeGpu=true -nologo -v:q
app="$root/out/gpu/bin/GpuCheck/Release/net10.0"
native="$app/runtimes/linux-x64/native"
[ -f "$native/libonnxruntime_providers_cuda.so" ] || { echo "error: $native has no CUDA provider: was the GPU package restored?" >&2; exit 1; }

rm -rf "$stage" && mkdir -p "$stage/app"
tmp="$stage/app"
# The program without the Windows natives, the TensorRT provider (not used) and the CUDA provider (shipped apart).
mkdir -p "$tmp/gpucheck"
(cd "$app" && tar --exclude='runtimes/win-*' --exclude='*providers_cuda.so' --exclude='*providers_tensorrt.so' -cf - .) | tar -xf - -C "$tmp/gpucheck"

# The .NET runtime this machine runs (framework-dependent app + portable runtime: no runtime pack to download).
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
fx=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
mkdir -p "$tmp/dotnet/shared/Microsoft.NETCore.App" "$tmp/dotnet/host/fxr"
cp "$dotnet_root/dotnet" "$tmp/dotnet/"
cp -r "$dotnet_root/host/fxr/$(ls "$dotnet_root/host/fxr" | sort -V | tail -1)" "$tmp/dotnet/host/fxr/"
cp -r "$dotnet_root/shared/Microsoft.NETCore.App/$fx" "$tmp/dotnet/shared/Microsoft.NETCore.App/"

# The Stable Diffusion test UNet, its channel dimension fixed (the loader needs it), and its scheduler.
mkdir -p "$tmp/models"
if [ -d "$sd" ]; then
  /usr/bin/python3 tools/fp16-export/to_fp16.py "$sd/unet/model.onnx" "$tmp/models/sd-tiny-unet.onnx" --mode float32 --channels 4
  cp "$sd/scheduler/scheduler_config.json" "$tmp/models/sd-scheduler_config.json"
fi

(cd "$stage" && tar -cf - app | xz -6 -T0 > app.tar.xz && rm -rf app)
gzip -6 -c "$native/libonnxruntime_providers_cuda.so" | split -b "$part_bytes" -d -a 2 - "$stage/provider.gz.part-"
(cd "$stage" && sha256sum app.tar.xz provider.gz.part-* > SHA256SUMS)
ls -l "$stage"
parts=$(cd "$stage" && ls provider.gz.part-* | wc -l)
echo
echo "Staged. On the GPU machine, one command per file, back to back (the machine is kept only while calls follow each other):"
for p in $(cd "$stage" && ls provider.gz.part-*); do
  echo "  run carry=[\"out/gpu-stage/$p\"]      command: tools/gpu-check/run.sh receive out/gpu-stage/$p"
done
echo "  run carry=[\"out/gpu-stage/app.tar.xz\",\"out/gpu-stage/SHA256SUMS\"]  command: tools/gpu-check/run.sh check $parts"
