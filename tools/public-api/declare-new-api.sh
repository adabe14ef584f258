#!/usr/bin/env bash
# Declares every public symbol the build reports as undeclared (RS0016) in its project's PublicAPI.Unshipped.txt.
# Usage: tools/public-api/declare-new-api.sh [project or solution, default Sdk.sln]. Review the diff: every line it adds
# is a change to the public surface. Removed symbols (RS0017) are listed for you to delete by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${1:-Sdk.sln}"
log=$(mktemp)
dotnet build "$target" -c Release --no-incremental 2>&1 > "$log" || true
python3 - "$log" <<'PY'
import re, sys, os, collections
added = collections.defaultdict(set)
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.search(r"RS0016: Symbol '(.*)' is not part of the declared public API.*\[(.*\.csproj)\]", line)
    if m: added[os.path.join(os.path.dirname(m.group(2)), "PublicAPI.Unshipped.txt")].add(m.group(1))
    m = re.search(r"RS0017: Symbol '(.*)' is part of the declared API, but is either not public or could not be found.*\[(.*\.csproj)\]", line)
    if m: print(f"remove by hand from {os.path.dirname(m.group(2))}: {m.group(1)}")
for path, symbols in added.items():
    lines = open(path, encoding="utf-8").read().splitlines()
    header = [l for l in lines if l.startswith("#")]
    body = sorted(set(l for l in lines if l and not l.startswith("#")) | symbols, key=lambda s: s.lower())
    open(path, "w", encoding="utf-8").write("\n".join(header + body) + "\n")
    print(f"{path}: {len(symbols)} declared")
PY
rm -f "$log"
