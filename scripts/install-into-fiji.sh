#!/usr/bin/env bash
# Installs the Fiji bundle (target/ssr-encoder-fiji-<version>-fiji.zip, made by `mvn package`) into a Fiji folder:
#   scripts/install-into-fiji.sh /path/to/Fiji.app
# The plugin jar goes to plugins/, its libraries to jars/. Older versions of the same jars are removed.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 FIJI_DIR" >&2
  exit 2
fi
fiji="${1%/}"
project_dir="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"

if [ ! -d "$fiji" ] || [ ! -d "$fiji/jars" ] || [ ! -d "$fiji/plugins" ]; then
  echo "install-into-fiji: $fiji does not look like a Fiji installation (expected the folders jars/ and plugins/)" >&2
  exit 2
fi

bundle="$(ls "$project_dir"/target/ssr-encoder-fiji-*-fiji.zip 2>/dev/null | head -n 1 || true)"
if [ -z "$bundle" ]; then
  echo "install-into-fiji: building the bundle (mvn -q -DskipTests package) ..."
  (cd "$project_dir" && mvn -B -q -DskipTests package)
  bundle="$(ls "$project_dir"/target/ssr-encoder-fiji-*-fiji.zip | head -n 1)"
fi
command -v unzip >/dev/null || { echo "install-into-fiji: 'unzip' is needed" >&2; exit 1; }

# Strip a trailing -<version>[-classifier].jar to compare artifacts across versions.
artifact_of() {
  sed -E 's/-[0-9][^/]*\.jar$//' <<<"$1"
}

echo "install-into-fiji: installing $(basename "$bundle") into $fiji"
while IFS= read -r entry; do
  case "$entry" in
    jars/*.jar|plugins/*.jar) ;;
    *) continue ;;
  esac
  dir="$(dirname "$entry")"
  name="$(basename "$entry")"
  base="$(artifact_of "$name")"
  for old in "$fiji/$dir/$base"-[0-9]*.jar; do
    [ -e "$old" ] || continue
    [ "$(basename "$old")" = "$name" ] && continue
    [ "$(artifact_of "$(basename "$old")")" = "$base" ] || continue
    rm -f "$old"
    echo "  removed older $dir/$(basename "$old")"
  done
  unzip -o -q "$bundle" "$entry" -d "$fiji"
  echo "  installed $entry"
done < <(unzip -Z1 "$bundle")

for lib in gson jna slf4j-api commons-io commons-compress scijava-common imglib2; do
  if ! ls "$fiji/jars/$lib"-[0-9]*.jar >/dev/null 2>&1; then
    echo "install-into-fiji: warning: $fiji/jars has no $lib jar; this Fiji may be too old (update it with Help > Update...)" >&2
  fi
done
echo "install-into-fiji: done; restart Fiji to load the plugin"
