#!/usr/bin/env bash
# Builds the exporter's container image on this machine with no container registry: the bases are root
# filesystems made from Debian's packages (mmdebstrap, bookworm: Python 3.11), then the Dockerfile is built
# with buildah in chroot isolation (no runc needed; it shares the host network, so pip reaches PyPI).
#
#   scripts/build-image.sh [TAG]      default TAG: localhost/kafka-cluster-exporter:latest
#   REBUILD_BASE=1 scripts/build-image.sh   remake the bases (they are otherwise kept: Debian's security
#                                           fixes arrive only when they are remade)
#
# Bases: localhost/kce-build-base:bookworm (python3, the venv module with ensurepip, CA certificates) for the
# build stage, and localhost/kce-base:bookworm (the same without the venv module and pip's wheels) for the image.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-localhost/kafka-cluster-exporter:latest}
BASE=localhost/kce-base:bookworm
BUILD_BASE=localhost/kce-build-base:bookworm
LABEL=kafka-cluster-exporter.base=bookworm  # on the bases, so inherited by every image built on them
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

need_apt=()
command -v buildah >/dev/null || need_apt+=(buildah)
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
if ((${#need_apt[@]})); then
  echo "build-image: installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi


# A local image from a root filesystem directory: `buildah from scratch`, then the tree copied in.
import_rootfs() {  # DIR NAME
  local ctr
  ctr=$($SUDO buildah from scratch)
  $SUDO tar -C "$1" -cf "$1.tar" .
  $SUDO buildah add --quiet "$ctr" "$1.tar" / >/dev/null   # a local tar archive is unpacked
  $SUDO buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /usr/bin/python3 \
    --label org.opencontainers.image.description="Debian bookworm: python3, CA certificates (mmdebstrap)" \
    --label "$LABEL" "$ctr"
  $SUDO buildah commit --quiet --rm "$ctr" "$2" >/dev/null
  $SUDO rm -f "$1.tar"
}

# Bases made before they carried the label are made again (the clean-up below finds images by it).
labelled() { [ -n "$($SUDO buildah images --quiet --filter "label=$LABEL" "$1" 2>/dev/null)" ]; }
if [ -n "${REBUILD_BASE:-}" ] || ! labelled "$BASE" || ! labelled "$BUILD_BASE"; then
  work=$(mktemp -d /var/tmp/kce-rootfs.XXXXXX)
  trap '$SUDO rm -rf "$work"' EXIT
  echo "build-image: making the Debian bookworm bases with mmdebstrap" >&2
  # essential: no apt, no init; no Recommends; documentation left out but each package's copyright kept;
  # merged /usr set up by the hook instead of the usrmerge package (which would pull in all of Perl).
  $SUDO mmdebstrap --quiet --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --include=python3,python3-venv,ca-certificates \
    bookworm "$work/rootfs"
  import_rootfs "$work/rootfs" "$BUILD_BASE"
  # The runtime base: the same tree less what only building needs.
  $SUDO chroot "$work/rootfs" dpkg --purge python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl \
    python3-distutils python3-lib2to3 >/dev/null
  import_rootfs "$work/rootfs" "$BASE"
fi

# Where this machine's pip is told to trust another CA (a TLS-intercepting proxy on the way to PyPI), the
# build's RUN steps see that bundle in place of Debian's, which Debian's pip reads; a bind mount for the
# build only: nothing of it is in the image.
ca_mount=()
for bundle in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}"; do
  if [ -n "$bundle" ] && [ -f "$bundle" ]; then
    ca_mount=(--volume "$(realpath "$bundle"):/etc/ssl/certs/ca-certificates.crt:ro")
    break
  fi
done

echo "build-image: building $TAG" >&2
# docker format: OCI image configs have no HEALTHCHECK; --layers caches the steps for the next build.
$SUDO buildah bud --isolation chroot --format docker --layers --force-rm --quiet "${ca_mount[@]}" \
  --build-arg BUILD_BASE="$BUILD_BASE" --build-arg BASE="$BASE" -t "$TAG" . >/dev/null
# Keep buildah's layer cache from growing with every rebuild: tag the build stage (its layers are the cache
# of the slow steps, and untagged they would count as dangling), then drop the untagged images of older
# builds, this project's only (they carry the bases' label): a removed leaf may leave its parent dangling.
$SUDO buildah bud --isolation chroot --format docker --layers --force-rm --quiet "${ca_mount[@]}" --target build \
  --build-arg BUILD_BASE="$BUILD_BASE" --build-arg BASE="$BASE" -t localhost/kce-build-cache:latest . >/dev/null
for _ in $(seq 20); do
  old=$($SUDO buildah images --quiet --filter dangling=true --filter "label=$LABEL")
  [ -n "$old" ] || break
  # shellcheck disable=SC2086  # one image id per word
  $SUDO buildah rmi $old >/dev/null 2>&1 || break  # one in use by a container stays
done
$SUDO buildah images "$TAG"
