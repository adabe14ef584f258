#!/usr/bin/env bash
# Fuzzes one target with AFL++ for a given time, then adds what the fuzzer found interesting to the committed corpus.
# Usage: tests/Fuzz/run.sh <target> <seconds>     (targets: dotnet run --project tests/Fuzz -- list)
# Needs: AFL++ (apt-get install afl++) and SharpFuzz's instrumenter (dotnet tool install -g SharpFuzz.CommandLine --version 2.3.0).
# Findings (inputs that crash or hang) land in out/fuzz/<target>/default/crashes and hangs: each becomes a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="$1"; seconds="$2"
build="out/fuzz/bin"
if [ ! -f "$build/.instrumented" ]; then
  rm -rf "$build"
  dotnet publish tests/Fuzz/Fuzz.csproj -c Release -o "$build" > /dev/null
  # Instrument the SDK's parsers (not the runtime or the libraries) so AFL sees their branches.
  for dll in Diffusion.Sdk.Abstractions Diffusion.Sdk.Tokenizers Diffusion.Sdk.Lora Diffusion.Sdk.StableDiffusion; do
    "${HOME}/.dotnet/tools/sharpfuzz" "$build/$dll.dll" > /dev/null
  done
  touch "$build/.instrumented"
fi
findings="out/fuzz/$target"
mkdir -p "$findings"
resume="tests/Fuzz/corpus/$target"
[ -d "$findings/default/queue" ] && resume="-"
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 \
  afl-fuzz -i "$resume" -o "$findings" -V "$seconds" -t 10000 -m none -- dotnet "$build/Diffusion.Sdk.Fuzz.dll" "$target" \
  > "$findings/afl.log" 2>&1 || true
grep -E "execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|run_time" "$findings/default/fuzzer_stats" || tail -20 "$findings/afl.log"
# Keep the inputs that found new paths (small ones) in the committed corpus, named by content.
for file in "$findings"/default/queue/id:*; do
  [ -f "$file" ] || continue
  [ "$(stat -c %s "$file")" -le 65536 ] || continue
  cp -n "$file" "tests/Fuzz/corpus/$target/q-$(sha1sum "$file" | cut -c1-16)"
done
