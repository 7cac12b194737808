# Docker for the sandboxes: sourced by scripts/setup.sh after its helpers (say, die, as_root,
# apt_install) and SBX_ROOT / SBX_DATA are defined. Not meant to be run on its own.
#
#   ensure_docker          a daemon answering on the default socket (/var/run/docker.sock, where
#                          bollard's default connection looks), usable by the current user
#   ensure_gvisor          gVisor's runsc installed and registered with dockerd (runsc, runsc-net)
#   ensure_sandbox_images  the local test images (sandboxes-images/*/recipe.sh), built without
#                          any registry: debootstrap from the host's apt mirror + `docker import`
#
# Both are idempotent, quiet and fast when there is nothing to do, and return non-zero with a
# message (rather than exit) when they cannot do their job.

SBX_DOCKER_DIR="$SBX_DATA/docker"              # dockerd's log and pidfile
SBX_IMAGES_DIR="$SBX_ROOT/sandboxes-images"     # one folder per catalog image
SBX_IMAGES_CACHE="$SBX_DATA/sandbox-images"     # built root filesystems and debootstrap's debs
SBX_DOCKER_SOCK=/var/run/docker.sock
# The images built here; the others in the catalog need a registry (sandboxes-images/README.md).
SBX_LOCAL_IMAGES=(python)
# The label on a local image holding the SHA-256 of its recipe: the image is rebuilt only when
# the recipe changes.
SBX_RECIPE_LABEL=org.sbx.recipe.sha256

# True when we are root or can become root the way as_root does (sudo). as_root `die`s, which
# would end the caller's shell; asking first lets these functions return an error instead.
docker_can_root() { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

# A daemon is there but its socket refuses us. (Output captured first: under pipefail,
# `docker info | grep` would carry docker's failure whatever grep finds.)
docker_denied() {
  local out
  out="$(timeout 10 docker info 2>&1)" && return 1
  grep -qi 'permission denied' <<<"$out"
}

# The pid in our pidfile if that process is alive (read from /proc: kill -0 on a root process
# fails for other users).
dockerd_pid() {
  local pid
  pid="$(cat "$SBX_DOCKER_DIR/dockerd.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}

ensure_docker() {
  if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
    docker_can_root || { echo "error: docker is not installed and installing Debian's docker.io needs root (or sudo)" >&2; return 1; }
    apt_install docker.io || return 1
  fi
  docker_answers && return 0

  # A daemon answers but refuses us: the socket is root:docker 0660 and we are in neither.
  if [ -S "$SBX_DOCKER_SOCK" ] && docker_denied; then
    docker_can_root || { echo "error: $SBX_DOCKER_SOCK is not usable by $(id -un); ask an admin to add you to the group '$(stat -c %G "$SBX_DOCKER_SOCK")'" >&2; return 1; }
    say "giving $(id -un) access to $SBX_DOCKER_SOCK"
    docker_grant_socket
    docker_answers && return 0
    echo "error: the Docker daemon still refuses $(id -un) on $SBX_DOCKER_SOCK" >&2
    return 1
  fi

  if ! dockerd_pid >/dev/null; then
    docker_can_root || {
      echo "error: no Docker daemon answers on $SBX_DOCKER_SOCK, and starting dockerd needs root (or sudo)." >&2
      echo "       Start it as root (e.g. 'dockerd --group $(id -gn) &') or run this as root." >&2
      return 1
    }
    mkdir -p "$SBX_DOCKER_DIR"
    # Who may use the socket. dockerd makes it root:GROUP 0660. As root: the usual `docker`
    # group. Otherwise a group we are in *now*: `docker` if we already belong to it, else our
    # primary group (private to us on Debian). Adding ourselves to `docker` (usermod -aG) would
    # only take effect at the next login, and chmod 666 on the socket would hand root-equivalent
    # access to every local user.
    local group=docker
    if [ "$(id -u)" != 0 ] && [[ " $(id -nG) " != *" docker "* ]]; then group="$(id -gn)"; fi
    getent group "$group" >/dev/null || group=""
    say "starting dockerd (log: $SBX_DOCKER_DIR/dockerd.log)"
    # setsid + nohup: dockerd outlives this shell and its terminal; it keeps running afterwards.
    # Default socket and data root (/var/lib/docker); only the log and pidfile live in .data.
    as_root setsid nohup dockerd ${group:+--group "$group"} \
      --host "unix://$SBX_DOCKER_SOCK" --pidfile "$SBX_DOCKER_DIR/dockerd.pid" \
      >>"$SBX_DOCKER_DIR/dockerd.log" 2>&1 </dev/null &
    disown 2>/dev/null || true
  fi

  local begin=$SECONDS started=""
  while [ $((SECONDS - begin)) -lt 30 ]; do
    if docker_answers; then started=1; break; fi
    # Gone (and not merely yet to write its pidfile).
    if [ $((SECONDS - begin)) -ge 3 ] && ! dockerd_pid >/dev/null && ! pgrep -x dockerd >/dev/null; then break; fi
    sleep 0.5
  done
  if [ -z "$started" ]; then
    if [ -S "$SBX_DOCKER_SOCK" ] && docker_denied; then
      echo "error: dockerd runs but $SBX_DOCKER_SOCK is not usable by $(id -un)" >&2
    else
      echo "error: dockerd did not answer within 30 s; the end of $SBX_DOCKER_DIR/dockerd.log:" >&2
      tail -15 "$SBX_DOCKER_DIR/dockerd.log" >&2 2>/dev/null || true
    fi
    return 1
  fi
  say "Docker $(docker version -f '{{.Server.Version}}' 2>/dev/null) answers on $SBX_DOCKER_SOCK"
}

# gVisor for containers: Debian's runsc, registered with dockerd under two names (`runsc`:
# gVisor's own network stack off, loopback only, for sandboxes without network; `runsc-net`:
# sockets passed to the host's stack inside the container's namespace, for those with it),
# then dockerd told to reload (SIGHUP). Runners use it by default where it passes their check
# (runner/src/container/runtime.rs). Returns non-zero, with a message, when it cannot.
ensure_gvisor() {
  if ! command -v runsc >/dev/null; then
    docker_can_root || { echo "warning: gVisor (runsc) is not installed and installing it needs root" >&2; return 1; }
    apt_install runsc || return 1
  fi
  local runsc
  runsc="$(command -v runsc)"
  if ! grep -q '"runsc-net"' /etc/docker/daemon.json 2>/dev/null; then
    docker_can_root || { echo "warning: registering gVisor with dockerd needs root" >&2; return 1; }
    say "registering gVisor ($runsc) with dockerd in /etc/docker/daemon.json"
    as_root mkdir -p /etc/docker
    # Merged into what daemon.json already says.
    as_root python3 - "$runsc" <<'PY' || return 1
import json, os, sys
path = '/etc/docker/daemon.json'
conf = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
runtimes = conf.setdefault('runtimes', {})
runtimes['runsc'] = {'path': sys.argv[1], 'runtimeArgs': ['--network=none']}
runtimes['runsc-net'] = {'path': sys.argv[1], 'runtimeArgs': ['--network=host']}
tmp = path + '.sbx'
json.dump(conf, open(tmp, 'w'), indent=2)
os.replace(tmp, path)
PY
  fi
  if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc-net"'; then return 0; fi
  local pid
  pid="$(dockerd_pid || pgrep -xo dockerd)" || { echo "warning: no dockerd to reload" >&2; return 1; }
  as_root kill -HUP "$pid"
  local begin=$SECONDS
  while [ $((SECONDS - begin)) -lt 10 ]; do
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc-net"' && return 0
    sleep 0.5
  done
  echo "warning: dockerd did not take gVisor's runtimes (see /etc/docker/daemon.json)" >&2
  return 1
}

# Lets the current user reach an already running daemon's socket: an ACL entry for just this
# user when setfacl exists, else the socket's group becomes our primary group. Either lasts
# until dockerd recreates the socket (its next start).
docker_grant_socket() {
  if command -v setfacl >/dev/null; then
    as_root setfacl -m "u:$(id -u):rw" "$SBX_DOCKER_SOCK"
  else
    as_root chgrp "$(id -g)" "$SBX_DOCKER_SOCK"
  fi
}

# The Debian suite and mirror for debootstrap: the host's suite (the images match the host's
# Python), and the mirror apt already uses for it (no registry is reachable; the apt mirror is).
# SBX_DEBIAN_SUITE and SBX_DEBIAN_MIRROR override them.
debian_suite() {
  if [ -n "${SBX_DEBIAN_SUITE:-}" ]; then echo "$SBX_DEBIAN_SUITE"; return; fi
  local id="" codename=""
  id="$(. /etc/os-release && echo "${ID:-}")"
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  if [ "$id" = debian ] && [ -n "$codename" ]; then echo "$codename"; else echo bookworm; fi
}

debian_mirror() {
  local suite="$1" uri=""
  if [ -n "${SBX_DEBIAN_MIRROR:-}" ]; then echo "$SBX_DEBIAN_MIRROR"; return; fi
  # deb822 files: the first `Types: deb` stanza listing the suite.
  uri="$(awk -v suite="$suite" '
    function flush() { if (!done && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" && uris != "") { split(uris, u, " "); print u[1]; done = 1; exit } types = suites = uris = ""; enabled = "" }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    tolower($1) == "types:"   { $1 = ""; types = $0 }
    tolower($1) == "suites:"  { $1 = ""; suites = $0 }
    tolower($1) == "uris:"    { $1 = ""; uris = $0 }
    tolower($1) == "enabled:" { enabled = tolower($2) }
    END { flush() }' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed 's/^ *//' || true)"
  # One-line files: deb [options] URI SUITE COMPONENTS...
  if [ -z "$uri" ]; then
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -E 's/\[[^]]*\]//' | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# The SHA-256 of an image's recipe: every file of its folder but the Dockerfile and READMEs
# (those are for registry builds), plus the suite and architecture it is built for.
sandbox_recipe_hash() {
  local dir="$1" suite="$2"
  (
    cd "$dir"
    find . -type f ! -name Dockerfile ! -name 'README*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    echo "suite=$suite arch=$(dpkg --print-architecture)"
  ) | sha256sum | cut -c1-64
}

# One local image, sbx/NAME:local, from sandboxes-images/NAME/recipe.sh. The recipe's contract:
#   recipe.sh rootfs OUT.tar   (as root) write the image's root filesystem to OUT.tar; reads
#                              SBX_DEBIAN_SUITE, SBX_DEBIAN_MIRROR, SBX_DEB_CACHE
#   recipe.sh changes          print the image's config, one Dockerfile instruction a line, for
#                              `docker import --change`
# The root filesystem is kept in .data/sandbox-images/NAME-HASH.tar: after a loss of Docker's
# data, the image comes back with a `docker import` of a few seconds.
ensure_sandbox_image() {
  local name="$1"
  local dir="$SBX_IMAGES_DIR/$name" tag="sbx/$name:local"
  [ -x "$dir/recipe.sh" ] || { echo "error: $dir/recipe.sh is missing or not executable" >&2; return 1; }
  local suite hash current
  suite="$(debian_suite)"
  hash="$(sandbox_recipe_hash "$dir" "$suite")"
  current="$(docker image inspect -f "{{index .Config.Labels \"$SBX_RECIPE_LABEL\"}}" "$tag" 2>/dev/null || true)"
  [ "$current" = "$hash" ] && return 0

  # One build at a time (two test runs starting together); the winner's image may be there now.
  local lock rc=0
  { mkdir -p "$SBX_IMAGES_CACHE" && exec {lock}>"$SBX_IMAGES_CACHE/.lock-$name"; } 2>/dev/null ||
    { echo "error: cannot write to $SBX_IMAGES_CACHE to build $tag" >&2; return 1; }
  flock "$lock"
  ensure_sandbox_image_locked "$name" "$dir" "$tag" "$suite" "$hash" || rc=$?
  exec {lock}>&-
  return $rc
}

ensure_sandbox_image_locked() {
  local name="$1" dir="$2" tag="$3" suite="$4" hash="$5" current
  current="$(docker image inspect -f "{{index .Config.Labels \"$SBX_RECIPE_LABEL\"}}" "$tag" 2>/dev/null || true)"
  [ "$current" = "$hash" ] && return 0

  local tar="$SBX_IMAGES_CACHE/$name-$hash.tar"
  if [ ! -f "$tar" ]; then
    docker_can_root || { echo "error: building $tag (debootstrap) needs root (or sudo)" >&2; return 1; }
    command -v debootstrap >/dev/null || apt_install debootstrap || return 1
    local mirror
    mirror="$(debian_mirror "$suite")"
    say "building $tag: debootstrap $suite from $mirror (takes a few minutes the first time)"
    mkdir -p "$SBX_IMAGES_CACHE/debs"
    rm -f "$tar.tmp"
    if ! as_root env SBX_DEBIAN_SUITE="$suite" SBX_DEBIAN_MIRROR="$mirror" \
        SBX_DEB_CACHE="$SBX_IMAGES_CACHE/debs" "$dir/recipe.sh" rootfs "$tar.tmp"; then
      as_root rm -f "$tar.tmp"
      echo "error: the recipe of $tag failed" >&2
      return 1
    fi
    [ "$(id -u)" = 0 ] || as_root chown "$(id -u):$(id -g)" "$tar.tmp"
    mv "$tar.tmp" "$tar" || return 1
  fi

  local changes=() line
  while IFS= read -r line; do
    [ -n "$line" ] && changes+=(--change "$line")
  done < <("$dir/recipe.sh" changes)
  local old
  old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  say "importing $tag"
  docker import "${changes[@]}" --change "LABEL $SBX_RECIPE_LABEL=$hash" \
    --message "sbx: sandboxes-images/$name/recipe.sh ($hash)" "$tar" "$tag" >/dev/null ||
    { echo "error: docker import of $tag failed" >&2; return 1; }
  # The image this one replaces, and the root filesystems of older recipes.
  [ -z "$old" ] || docker image rm "$old" >/dev/null 2>&1 || true
  find "$SBX_IMAGES_CACHE" -maxdepth 1 -name "$name-*.tar" ! -name "$name-$hash.tar" -delete 2>/dev/null || true
  say "$tag ready ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

ensure_sandbox_images() {
  docker_answers || { echo "error: no Docker daemon answers; run ensure_docker first" >&2; return 1; }
  local name
  for name in "${SBX_LOCAL_IMAGES[@]}"; do
    ensure_sandbox_image "$name" || return 1
  done
}

# Docker's registry (Debian's docker-registry: the distribution project's), for the tests of
# templates pushed to and pulled from a deployment's registry; the tests start their own.
ensure_registry_tool() {
  command -v docker-registry >/dev/null || apt_install docker-registry
}
