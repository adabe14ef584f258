#!/usr/bin/env bash
# The CUDA check on a GPU machine (see README.md here). Runs in the repository root of the machine's copy of the
# working tree; files stay in out/gpu-recv/ between commands while the machine is held.
#
#   tools/gpu-check/run.sh probe                 # what the machine has: GPU, driver, Python's CUDA 13 libraries
#   tools/gpu-check/run.sh receive FILE          # keeps one staged piece (carried with the command) for later
#   tools/gpu-check/run.sh check NPARTS          # unpacks everything, runs GpuCheck, writes $OUT/gpu-check.json
set -uo pipefail
recv=out/gpu-recv
out=${OUT:-out/gpu-check-result}
mkdir -p "$recv" "$out"

# Folders of the NVIDIA CUDA libraries pip installed for Python's torch (nvidia-* packages), and torch's own lib.
cuda_library_path() {
  local py
  py=$(command -v python3 || command -v python) || return 0
  "$py" - <<'PY'
import glob, os, sys
roots = []
try:
    import nvidia
    roots += list(nvidia.__path__)
except Exception:
    pass
try:
    import torch
    roots.append(os.path.join(os.path.dirname(torch.__file__), "lib"))
except Exception:
    pass
folders = set()
for root in roots:
    for so in glob.glob(os.path.join(root, "**", "lib*.so*"), recursive=True):
        folders.add(os.path.dirname(so))
print(":".join(sorted(folders)))
PY
}

case "${1:-}" in
  probe)
    { nvidia-smi || echo "no nvidia-smi"; } 2>&1 | tee "$out/probe.txt"
    lib=$(cuda_library_path)
    echo "pip CUDA library folders: ${lib:-none}" | tee -a "$out/probe.txt"
    for name in libcuda.so.1 libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libcurand.so.10 libcudnn.so.9 libnvrtc.so.13; do
      found=$(LD_LIBRARY_PATH="$lib" ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n { print $NF; exit }')
      [ -z "$found" ] && for d in ${lib//:/ }; do [ -e "$d/$name" ] && found="$d/$name" && break; done
      echo "$name: ${found:-MISSING}" | tee -a "$out/probe.txt"
    done
    { python3 -m pip list 2>/dev/null | grep -Ei 'torch|nvidia|onnx' || true; } | tee -a "$out/probe.txt"
    df -h . | tail -1 | tee -a "$out/probe.txt"
    ;;
  receive)
    file=${2:?receive needs the carried file}
    mv -f "$file" "$recv/" && ls -l "$recv"
    ;;
  check)
    parts=${2:?check needs the number of provider pieces}
    [ -f out/gpu-stage/app.tar.xz ] && mv -f out/gpu-stage/app.tar.xz out/gpu-stage/SHA256SUMS "$recv/"
    have=$(ls "$recv"/provider.gz.part-* 2>/dev/null | wc -l)
    if [ "$have" -ne "$parts" ]; then echo "error: $have of $parts provider pieces arrived (the machine was given back in between?): stage again" >&2; exit 1; fi
    (cd "$recv" && sha256sum -c SHA256SUMS) || exit 1
    unxz() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
    rm -rf "$recv/app" && (cd "$recv" && unxz app.tar.xz | tar -xf -) || exit 1
    native="$recv/app/gpucheck/runtimes/linux-x64/native"
    cat "$recv"/provider.gz.part-* | gzip -dc > "$native/libonnxruntime_providers_cuda.so" || exit 1
    export DOTNET_ROOT="$PWD/$recv/app/dotnet" DOTNET_CLI_TELEMETRY_OPTOUT=1
    export LD_LIBRARY_PATH="$(cuda_library_path):${LD_LIBRARY_PATH:-}"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    sd=()
    [ -f "$recv/app/models/sd-tiny-unet.onnx" ] && sd=(--sd-unet "$recv/app/models/sd-tiny-unet.onnx" --sd-scheduler "$recv/app/models/sd-scheduler_config.json")
    "$DOTNET_ROOT/dotnet" "$recv/app/gpucheck/GpuCheck.dll" --digits models/digits "${sd[@]}" --out "$out/gpu-check.json" 2>&1 | tee "$out/gpu-check.log"
    exit "${PIPESTATUS[0]}"
    ;;
  *)
    echo "usage: run.sh probe | receive FILE | check NPARTS" >&2
    exit 2
    ;;
esac
