#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage without a container engine:
#   scripts/rootfs-test.sh [BINARY]        (default: build/sidecar/backup-gate)
# Builds a Debian 12 minbase root with debootstrap, installs
# packaging/runtime-packages.txt in it and, as the Dockerfile does, the
# stripped binary and its object-store module (BINARY/../../lib/backup-gate/,
# where the build puts it) at /usr/local/bin and /usr/local/lib/backup-gate,
# root-owned, 0755; then, as uid/gid 65532 as the image runs: --version; every
# library the binary or the module links resolved and its package listed;
# neither of them nor their directories writable; `check` of a posix backend
# with a write probe and of an s3 backend over https trusted through the
# root's system trust store (ca-certificates), which loads the module; and the
# image's ENTRYPOINT+CMD serving /readyz with the root file system read-only
# and the backup directory, the state file and the config on "volumes". Also
# needs python3 and openssl.
# Needs root (debootstrap, chroot, mount); installs debootstrap if missing.
# The mirror is the one this machine's APT sources use for bookworm
# (BGATE_DEBIAN_MIRROR overrides it); BGATE_RUNTIME_PACKAGES names another
# package list to try.
set -euo pipefail
root_dir=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-$root_dir/build/sidecar/backup-gate}
module=$(dirname "$binary")/../lib/backup-gate/libbackup-gate-objectstores.so
packages_file=${BGATE_RUNTIME_PACKAGES:-$root_dir/packaging/runtime-packages.txt}
suite=bookworm
uid=65532
container_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

fail() { echo "rootfs-test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] ||
  exec sudo --preserve-env=BGATE_DEBIAN_MIRROR,BGATE_RUNTIME_PACKAGES -- bash "$0" "$@"
[ -x "$binary" ] || fail "no executable at $binary (build it, or pass its path)"
[ -f "$module" ] || fail "no object-store module at $module (it is built with the binary)"

# The first URI that this machine's APT sources (one-line or deb822) use for
# the given suite.
apt_uri_for() {
  local want=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v want="$want" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == want) print $i
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v want="$want" '
      BEGIN { RS = ""; FS = "\n" }
      {
        types = uris = suites = ""; enabled = "yes"
        for (n = 1; n <= NF; n++) {
          if ($n ~ /^#/) continue
          split($n, kv, ":[ \t]*")
          key = tolower(kv[1]); value = substr($n, length(kv[1]) + 2)
          sub(/^[ \t]+/, "", value)
          if (key == "types") types = value
          else if (key == "uris") uris = value
          else if (key == "suites") suites = value
          else if (key == "enabled") enabled = tolower(value)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        if ((" " suites " ") ~ (" " want " ")) { split(uris, u, " "); print u[1] }
      }' "$f"
  done
}

mirror=${BGATE_DEBIAN_MIRROR:-$(apt_uri_for "$suite" | sed -n 1p)}
security=$(apt_uri_for "$suite-security" | sed -n 1p)
[ -n "$mirror" ] || fail "no APT source for $suite on this machine; set BGATE_DEBIAN_MIRROR"

if ! command -v debootstrap >/dev/null; then
  step "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    debootstrap debian-archive-keyring >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/backup-gate-rootfs.XXXXXX")
root=$work/root
server_pid=""
s3_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  [ -z "$s3_pid" ] || kill "$s3_pid" 2>/dev/null || true
  # Newest mount first (mounts stack); --one-file-system keeps rm out of
  # anything that would still be mounted.
  awk -v w="$work/" 'index($2 "/", w) == 1 { print $2 }' /proc/mounts | tac |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
# In memory: deleting a root on disk takes longer here than building it.
mount -t tmpfs -o size=1g,mode=0700 backup-gate-rootfs "$work" ||
  echo "no tmpfs; the root goes to $work on disk"

# As the image runs it: uid/gid 65532, the image's PATH, nothing else.
as_user() {
  env -i PATH="$container_path" HOME=/ \
    chroot --userspec="$uid:$uid" "$root" "$@"
}

step "debootstrap --variant=minbase $suite from $mirror"
t0=$SECONDS
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
t_debootstrap=$((SECONDS - t0))

# The sources of debian:12-slim (the release, its updates and security),
# pointed at this machine's mirrors.
rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' \
    "$mirror" "$suite" "$suite"
  printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  if [ -n "$security" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
      "$security" "$suite"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"

mount -t proc proc "$root/proc"

step "installing $(basename "$packages_file") as the Dockerfile does"
t0=$SECONDS
{
  chroot "$root" apt-get update -qq &&
    sed 's/#.*//' "$packages_file" |
    chroot "$root" env DEBIAN_FRONTEND=noninteractive \
      xargs apt-get install -y -qq --no-install-recommends &&
    chroot "$root" apt-get clean &&
    rm -rf "$root"/var/lib/apt/lists/*
} >"$work/install.log" 2>&1 || { tail -n 20 "$work/install.log" >&2; fail "package install"; }
t_install=$((SECONDS - t0))
echo "debootstrap ${t_debootstrap}s, runtime packages ${t_install}s;" \
  "root $(du -smx "$root" | cut -f1) MiB"

# The build stage's `cmake --install --strip` (root-owned, 0755) and
# COPY --chown=0:0, the module where the binary's rpath finds it.
bin=/usr/local/bin/backup-gate
mod=/usr/local/lib/backup-gate/libbackup-gate-objectstores.so
install -s -o root -g root -m 0755 "$binary" "$root$bin"
install -D -s -o root -g root -m 0755 "$module" "$root$mod"
echo "$binary: $(stat -c %s "$binary") bytes, stripped $(stat -c %s "$root$bin")"
echo "$module: $(stat -c %s "$module") bytes, stripped $(stat -c %s "$root$mod")"

step "libraries"
# Every library the binary or the module links directly must come from a
# listed package, not by chance as a dependency of another one.
mapfile -t listed < <(sed 's/#.*//' "$packages_file" | xargs -n1)
owner_of() {
  local path=$1 alt
  case $path in /usr/*) alt=${path#/usr} ;; *) alt=/usr$path ;; esac
  chroot "$root" dpkg-query -S "$path" 2>/dev/null ||
    chroot "$root" dpkg-query -S "$alt" 2>/dev/null ||
    chroot "$root" dpkg-query -S "$(chroot "$root" readlink -f "$path")"
}
unlisted=()
for object in "$bin" "$mod"; do
  echo "$object"
  libraries=$(chroot "$root" ldd "$object" 2>&1) || true
  missing=$(awk '/not found/ { printf " %s", $1 }' <<<"$libraries")
  [ -z "$missing" ] || fail "libraries of $object missing from the runtime root:$missing"
  needed=$(objdump -p "$root$object" | awk '$1 == "NEEDED" { print $2 }')
  for soname in $needed; do
    # "soname => path (address)", or "path (address)" for the loader.
    path=$(awk -v s="$soname" '
      $1 == s { print $3; exit }
      $1 ~ /^\// { n = split($1, part, "/"); if (part[n] == s) { print $1; exit } }' <<<"$libraries")
    package=$(owner_of "$path" | sed -n '1s/[:,].*//p')
    printf '  %-32s %-50s %s\n' "$soname" "$path" "$package"
    [[ " ${listed[*]} " == *" $package "* ]] || unlisted+=("$package ($soname)")
  done
done
((${#unlisted[@]} == 0)) || fail "not in $(basename "$packages_file"): ${unlisted[*]}"

step "--version as $uid:$uid"
[ "$(as_user /usr/bin/id -u):$(as_user /usr/bin/id -G)" = "$uid:$uid" ] ||
  fail "not running as $uid:$uid only: $(as_user /usr/bin/id)"
as_user "$bin" --version || fail "backup-gate --version"

step "the binary and the module are not writable by $uid"
for file in "$bin" "$mod"; do
  [ "$(stat -c '%u:%g %a' "$root$file")" = "0:0 755" ] || fail "$file is $(stat -c '%u:%g %a' "$root$file")"
  as_user /bin/sh -c "test ! -w $file" || fail "$file is writable by $uid"
  if as_user /bin/sh -c ": >> $file" 2>/dev/null; then fail "$uid could open $file for writing"; fi
  dir=$(dirname "$file")
  if as_user /bin/sh -c ": > $dir/planted" 2>/dev/null; then fail "$uid can write into $dir"; fi
done

# An https endpoint on loopback whose certificate is signed by a CA that the
# root trusts as an image derived from this one would: a file in
# /usr/local/share/ca-certificates, through ca-certificates. It answers every
# GET with a one-object S3 listing.
step "an s3 endpoint over TLS, trusted through the root's trust store"
tls=$work/tls
mkdir -p "$tls"
{
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=backup-gate rootfs test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$tls/server.key" -out "$tls/server.csr" &&
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
      -CAcreateserial -days 1 -out "$tls/server.crt" \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
} >"$tls/openssl.log" 2>&1 || { cat "$tls/openssl.log" >&2; fail "openssl"; }
cp "$tls/ca.crt" "$root/usr/local/share/ca-certificates/backup-gate-rootfs-test.crt"
chroot "$root" update-ca-certificates >/dev/null 2>&1
python3 - "$tls/server.crt" "$tls/server.key" >"$tls/port" <<'PY' &
import http.server, ssl, sys

LISTING = (b'<?xml version="1.0" encoding="UTF-8"?>'
           b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b'<Name>backups</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>'
           b'<Contents><Key>volume-1</Key></Contents></ListBucketResult>')

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(LISTING)))
        self.end_headers()
        self.wfile.write(LISTING)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
s3_pid=$!
for _ in $(seq 100); do [ -s "$tls/port" ] && break; sleep 0.1; done
s3_port=$(cat "$tls/port")
[ -n "$s3_port" ] || fail "the https endpoint did not start"

# From here on as in a pod with readOnlyRootFilesystem: the root is
# read-only; the backup directory, the state file's directory and the config
# are mounts.
mkdir -p "$root/srv/backups" "$root/run/backup-gate" "$root/etc/backup-gate" \
  "$work/backups" "$work/state" "$work/config"
chown "$uid:$uid" "$work/backups" "$work/state"
printf 'rootfs-test-key\n' >"$work/config/access-key-id"
printf 'rootfs-test-secret\n' >"$work/config/secret-access-key"
cat >"$work/config/gate.yaml" <<EOF
server:
  address: "127.0.0.1:0"
  drain_delay: 100ms
state_file: /run/backup-gate/state.json
backends:
  - name: primary
    driver: posix
    path: /srv/backups
    write_probe: true
  - name: objects
    driver: s3
    endpoint: https://127.0.0.1:$s3_port
    path_style: true
    bucket: backups
    access_key_id_file: /etc/backup-gate/access-key-id
    secret_access_key_file: /etc/backup-gate/secret-access-key
EOF
umount "$root/proc"
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$work/backups" "$root/srv/backups"
mount --bind "$work/state" "$root/run/backup-gate"
mount --bind "$work/config" "$root/etc/backup-gate"
mount -o remount,bind,ro "$root/etc/backup-gate"
mount -t proc proc "$root/proc"
if as_user /bin/sh -c ': > /tmp/probe' 2>/dev/null; then fail "the root is not read-only"; fi

# The s3 backend makes the binary load its module: with RTLD_NOW, so a
# library or symbol missing from the root fails the config with exit 2.
step "check --config /etc/backup-gate/gate.yaml as $uid:$uid"
status=0
out=$(as_user "$bin" check --config /etc/backup-gate/gate.yaml 2>&1) || status=$?
echo "$out"
[ "$status" -eq 0 ] || fail "check exited $status"
awk '$1 == "primary" && $3 == "ready" && /write probe ok/ { ok = 1 } END { exit !ok }' \
  <<<"$out" || fail "check did not report primary ready with the write probe"
awk '$1 == "objects" && $3 == "ready" && /1 object/ { ok = 1 } END { exit !ok }' \
  <<<"$out" || fail "check did not list the bucket over TLS"

step "ENTRYPOINT + CMD (serving) as $uid:$uid"
env -i PATH="$container_path" HOME=/ \
  chroot --userspec="$uid:$uid" "$root" "$bin" --config /etc/backup-gate/gate.yaml \
  2>"$work/serve.log" &
server_pid=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o '"port":[0-9]*' "$work/serve.log" | cut -d: -f2) && [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/serve.log" >&2; fail "the server did not start listening"; }
get() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1" >&3
  timeout 5 cat <&3
  exec 3<&-
}
answer=""
state_ready() { grep -q '"ready": *true' "$work/state/state.json" 2>/dev/null; }
for _ in $(seq 100); do
  answer=$(get '/readyz?verbose') && [[ $answer == "HTTP/1.1 200"* ]] && state_ready && break
  sleep 0.1
done
echo "$answer" | tr -d '\r' | sed -n '1p;/^\[/p'
[[ $answer == "HTTP/1.1 200"* ]] || fail "/readyz did not answer 200"
state_ready || fail "state file not written: $(cat "$work/state/state.json" 2>&1)"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || { cat "$work/serve.log" >&2; fail "exit $status after SIGTERM"; }

echo "rootfs-test: OK (debootstrap ${t_debootstrap}s, runtime packages ${t_install}s, total ${SECONDS}s)"
