#!/usr/bin/env bash
# Retakes the README screenshots (docs/screenshots/generate-dialog.png and result.png) in a real ImageJ 1.x
# on a virtual X display, with the SSR-Encoder jar installed in a temporary plugins folder and the bundled
# tiny test model. Not part of the build or the tests.
#
# Needs: xvfb-run (Debian: apt-get install xvfb), a JDK 17, the packaged project
# (mvn -B -o -DskipTests package, which fills target/ and target/lib/). Uses openbox for window frames
# when it is installed (apt-get install openbox).
# Usage: scripts/screenshots/take-screenshots.sh [output folder, default docs/screenshots]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mkdir -p "${1:-$root/docs/screenshots}" && cd "${1:-$root/docs/screenshots}" && pwd)"
model="$root/src/test/resources/golden/tiny-a"

jar="$(ls "$root"/target/ssr-encoder-fiji-*.jar 2>/dev/null | grep -v -e sources -e javadoc | head -n 1 || true)"
if [[ -z "$jar" || ! -d "$root/target/lib" ]]; then
    echo "package the project first: mvn -B -o -DskipTests package" >&2
    exit 1
fi
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (apt-get install xvfb)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins" "$work/classes"
# ImageJ reads plugins.config from jars in its plugins folder whose names contain an underscore.
cp "$jar" "$work/plugins/SSR_Encoder_Fiji.jar"
classpath="$work/plugins/SSR_Encoder_Fiji.jar:$root/target/lib/*"
javac -d "$work/classes" -cp "$classpath" "$root/scripts/screenshots/TakeScreenshots.java"

cat > "$work/session.sh" <<'EOF'
#!/usr/bin/env bash
if command -v openbox >/dev/null; then
    openbox >/dev/null 2>&1 &
    sleep 1
fi
exec java "$@"
EOF
chmod +x "$work/session.sh"

timeout 300 xvfb-run -a -s "-screen 0 1280x900x24" "$work/session.sh" \
    -Dplugins.dir="$work" -Dai.djl.offline=true -DOPT_OUT_TRACKING=true -Dawt.useSystemAAFontSettings=on \
    -cp "$work/classes:$classpath" TakeScreenshots "$model" "$out"
