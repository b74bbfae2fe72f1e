#!/usr/bin/env bash
# Installs the Fiji bundle (target/ssr-encoder-fiji-<version>-fiji.zip, made by `mvn package`) into a Fiji folder:
#   scripts/install-into-fiji.sh [--all-platforms | --platform NAME] /path/to/Fiji.app
# The plugin jar goes to plugins/ (as SSR_Encoder-<version>.jar), its libraries to jars/, and the CPU libtorch of
# this machine's platform to jars/<platform>/ (linux64, linux-arm64, macos-arm64 or win64, Fiji's folder names).
# --all-platforms installs every platform's libtorch (a Fiji folder shared between machines); --platform NAME
# installs that platform's instead of this machine's. Older versions of the same jars are removed.
set -euo pipefail

usage() {
  echo "usage: $0 [--all-platforms | --platform linux64|linux-arm64|macos-arm64|win64] FIJI_DIR" >&2
  exit 2
}

platforms=()
fiji=""
while [ $# -gt 0 ]; do
  case "$1" in
    --all-platforms) platforms=(linux64 linux-arm64 macos-arm64 win64) ;;
    --platform) [ $# -ge 2 ] || usage; platforms=("$2"); shift ;;
    -h|--help) usage ;;
    -*) echo "install-into-fiji: unknown option $1" >&2; usage ;;
    *) [ -z "$fiji" ] || usage; fiji="${1%/}" ;;
  esac
  shift
done
[ -n "$fiji" ] || usage
project_dir="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"

# Fiji's name for this machine (the Fiji updater's platform names).
this_platform() {
  local os arch
  os="$(uname -s)"
  arch="$(uname -m)"
  case "$os/$arch" in
    Linux/x86_64|Linux/amd64) echo linux64 ;;
    Linux/aarch64|Linux/arm64) echo linux-arm64 ;;
    Darwin/arm64|Darwin/aarch64) echo macos-arm64 ;;
    MINGW*/x86_64|MSYS*/x86_64|CYGWIN*/x86_64) echo win64 ;;
    *) echo "install-into-fiji: no libtorch build for $os $arch (supported: Linux x86-64/arm64, macOS arm64, Windows x86-64)" >&2
       return 1 ;;
  esac
}
if [ ${#platforms[@]} -eq 0 ]; then
  platforms=("$(this_platform)")
fi
for p in "${platforms[@]}"; do
  case "$p" in
    linux64|linux-arm64|macos-arm64|win64) ;;
    *) echo "install-into-fiji: unknown platform '$p' (use linux64, linux-arm64, macos-arm64 or win64)" >&2; exit 2 ;;
  esac
done

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

wanted() {
  local entry="$1" dir
  dir="$(dirname "$entry")"
  case "$dir" in
    plugins|jars) return 0 ;;
    jars/*) for p in "${platforms[@]}"; do [ "$dir" = "jars/$p" ] && return 0; done; return 1 ;;
    *) return 1 ;;
  esac
}

echo "install-into-fiji: installing $(basename "$bundle") into $fiji (libtorch for ${platforms[*]})"
# Earlier releases named the plugin jar ssr-encoder-fiji-<version>.jar, which ImageJ 1.x does not scan.
for old in "$fiji"/plugins/ssr-encoder-fiji-[0-9]*.jar "$fiji"/jars/ssr-encoder-fiji-[0-9]*.jar; do
  [ -e "$old" ] || continue
  rm -f "$old"
  echo "  removed $(basename "$(dirname "$old")")/$(basename "$old") (earlier name of the plugin jar)"
done
# Earlier releases put libtorch directly into jars/; it now lives in the platform folders.
for old in "$fiji"/jars/pytorch-native-*.jar; do
  [ -e "$old" ] || continue
  rm -f "$old"
  echo "  removed jars/$(basename "$old") (libtorch now goes to jars/<platform>/)"
done
while IFS= read -r entry; do
  case "$entry" in
    *.jar) wanted "$entry" || continue ;;
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
