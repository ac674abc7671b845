#!/usr/bin/env bash
# Builds deploy/Dockerfile's image with podman (Debian's) from a tree scripts/dist.sh laid out,
# on a Debian base made here from Debian's own packages (debootstrap: these machines reach no
# container registry), runs it, and checks what the README promises of it: /readyz through the
# published port, the health check, a non-root user, SQLite in /data, a clean stop.
#   scripts/container-test.sh DIST
# Podman here: builds need chroot isolation (and the docker format, which keeps HEALTHCHECK), and runs need runc with explicit limits (crun
# cannot set limits in this sandbox's cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
dist=${1:?usage: scripts/container-test.sh DIST}

ensure_podman
base=localhost/landing-base:bookworm
work=$(mktemp -d)
name="landing-test-$$"
cleanup() { podman --runtime runc rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
if ! podman image exists "$base"; then
  step "a Debian base image from Debian's packages (debootstrap, once)"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; die "debootstrap failed"; }
  tar -C "$work/rootfs" -c . | podman import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi

step "building the image (runtime stage on $base, the tree from $dist)"
mkdir "$work/context"
cp -R "$dist" "$work/context/dist"
podman build --quiet --format docker --isolation=chroot --build-arg RUNTIME_BASE="$base" --build-arg DIST_STAGE=prebuilt \
  -f deploy/Dockerfile -t localhost/landing:test "$work/context" >/dev/null

step "running it"
port=$(free_port)
podman --runtime runc run -d --name "$name" --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
  -p "127.0.0.1:$port:3000" -e SITE_URL="http://127.0.0.1:$port" -e AUTH_JWT_SECRET="$(random_secret)" \
  localhost/landing:test >/dev/null 2>"$work/run.log" || { cat "$work/run.log"; die "podman run failed"; }
# (Podman's own timer for the health check needs systemd, which this machine does not run: the
# check is run once below instead.)
wait_http "http://127.0.0.1:$port/readyz" || { podman logs "$name"; die "the container did not answer /readyz"; }
curl -fsS "http://127.0.0.1:$port/pricing" | grep -q 'Subscribe to' || die "/pricing did not render"
podman healthcheck run "$name" >/dev/null || die "the image's health check failed"
[ "$(podman exec "$name" id -u)" = 10001 ] || die "the server does not run as its own user"
podman exec "$name" test -s /data/landing.db || die "no SQLite database in /data"
podman --runtime runc stop -t 25 "$name" >/dev/null
[ "$(podman inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || { podman logs "$name" | tail; die "the stop did not exit 0"; }
podman logs "$name" 2>&1 | grep -q "SIGTERM received" || die "the stop was not a SIGTERM"
echo "ok: built, served /readyz and /pricing, healthy, uid 10001, SQLite in /data, stopped with exit 0"
