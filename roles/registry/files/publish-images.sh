#!/bin/bash
# publish-images.sh LAYOUT DIGESTS REGISTRY REPOSITORY AUTHFILE
# Pushes every image DIGESTS (IMAGE-DIGESTS: "<digest>  <name>:<tag>" lines) lists from the OCI image LAYOUT to
# REGISTRY/REPOSITORY:<tag>, keeping its digest (skopeo --preserve-digests refuses to push otherwise). An image the
# registry already holds under its tag with that digest is left alone. Prints "published <tag> <digest>" per push;
# fails when the registry then answers another digest for the tag.
set -euo pipefail
layout=$1 digests=$2 registry=$3 repository=$4 authfile=$5

held() {  # the digest of the manifest the registry holds under a tag (of nothing when it holds none)
  { skopeo inspect --raw --authfile "$authfile" "docker://$registry/$repository:$1" 2>/dev/null || true; } \
    | sha256sum | awk '{print "sha256:" $1}'
}

while read -r digest ref; do
  [[ -n $digest ]] || continue
  tag=${ref#*:}
  [[ $(held "$tag") == "$digest" ]] && continue
  skopeo copy --quiet --preserve-digests --authfile "$authfile" "oci:$layout:$tag" "docker://$registry/$repository:$tag"
  now=$(held "$tag")
  if [[ $now != "$digest" ]]; then
    echo "publish-images: $repository:$tag is $now in the registry after the push, $digest in $digests" >&2
    exit 1
  fi
  echo "published $tag $digest"
done <"$digests"
