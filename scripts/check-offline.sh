#!/usr/bin/env bash
# Starts the PyTorch engine with the network unavailable (unshare -n) and checks that it computes.
# Needs the packaged build (target/ssr-encoder-fiji-*.jar and target/lib/); builds it when missing.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"

find_jar() {
  ls target/ssr-encoder-fiji-*.jar 2>/dev/null | grep -v -- '-sources\.jar$\|-javadoc\.jar$\|-tests\.jar$' | head -n 1 || true
}
jar="$(find_jar)"
if [ -z "$jar" ] || [ ! -d target/lib ]; then
  echo "check-offline: building the jar (mvn -q -DskipTests package)"
  mvn -B -q -DskipTests package
  jar="$(find_jar)"
fi
cmd=(java -Dai.djl.offline=true -DOPT_OUT_TRACKING=true -cp "$jar:target/lib/*" io.github.ssrencoder.cli.EngineCheck cpu)

# DJL extracts the natives into its cache; use a fresh one so nothing cached from earlier runs is reused.
cache="$(mktemp -d)"
trap 'rm -rf "$cache"' EXIT
export DJL_CACHE_DIR="$cache"

if unshare -n true 2>/dev/null; then
  echo "check-offline: running the engine check without network (unshare -n)"
  unshare -n "${cmd[@]}"
elif unshare -r -n true 2>/dev/null; then
  echo "check-offline: running the engine check without network (unshare -r -n)"
  unshare -r -n "${cmd[@]}"
else
  echo "check-offline: SKIPPED the no-network run (unshare -n is not permitted here); running with the offline switch only"
  "${cmd[@]}"
fi
echo "check-offline: OK"
