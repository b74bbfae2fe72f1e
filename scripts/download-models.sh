#!/usr/bin/env bash
# Downloads the real weights into the models folder layout (DIR/sd, DIR/image_encoder, DIR/ssr):
#   scripts/download-models.sh --ssr-repo OWNER/NAME DIR
# Stable Diffusion 1.5 comes from stable-diffusion-v1-5/stable-diffusion-v1-5 (diffusers files only), the image
# encoder from openai/clip-vit-large-patch14. Every file is checked against the checksum in the hub's file
# listing; an interrupted run resumes when started again. Options: scripts/download-models.sh --help
set -euo pipefail

project_dir="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
find_jar() {
  ls "$project_dir"/target/ssr-encoder-fiji-*.jar 2>/dev/null | grep -v -- '-sources\.jar$\|-javadoc\.jar$\|-tests\.jar$' | head -n 1 || true
}
jar="$(find_jar)"
if [ -z "$jar" ] || [ ! -d "$project_dir/target/lib" ]; then
  echo "download-models: building the jar (mvn -q -DskipTests package) ..." >&2
  (cd "$project_dir" && mvn -B -q -DskipTests package) >&2
  jar="$(find_jar)"
fi
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} -cp "$jar:$project_dir/target/lib/*" io.github.ssrencoder.cli.ModelDownloader "$@"
