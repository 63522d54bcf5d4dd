#!/bin/sh
# End to end with podman (CTest label e2e, in the VM): Debian's
# podman 4.3, rootful, finds warmblock's hooks where `cmake --install` puts
# them and gives its containers their volumes.
# podman_e2e.sh WARMBLOCKD WARMBLOCK_CLI BUILD_DIR HOOKS_DIR
#
# The hook's component is installed with DESTDIR into the scratch directory
# and shown at its real places (HOOKS_DIR, the hook's absolute path in the
# JSON) through read-only overlays in a private mount namespace, so podman
# runs with its default hooks directories and no --hooks-dir: the test
# proves that podman reads the installed location, without touching the
# host's. warmblockd's socket is likewise shown at the hook's default,
# /run/warmblock/warmblockd.sock (the installed JSON passes no --socket).
# Exits 77 (skipped) without root, ublk, device-mapper or podman, unless
# WARMBLOCK_REQUIRE_KERNEL=1, where that is a failure.
set -u
if [ "$(id -u)" = 0 ] && [ -z "${WB_PODMAN_E2E_NS:-}" ]; then
	WB_PODMAN_E2E_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
NAME=podman_e2e
WARMBLOCKD=$1 CLI=$2 BUILD=$3 HOOKS_DIR=$4
TOOLS="podman busybox cmake"
# shellcheck source=../reliability/lib.sh
. "$(dirname "$0")/../reliability/lib.sh"
t0=$(date +%s)
SOCK=$D/run/warmblockd.sock
mkdir -p "$D/run" "$D/rootfs/bin" "$D/rootfs/proc" "$D/rootfs/dev" "$D/rootfs/sys" "$D/podman"

# pm ARGS: rootful podman with its storage in the scratch tmpfs (vfs: no
# overlay over the guest's own overlay root), no systemd, no network.
pm() {
	podman --root "$D/podman/root" --runroot "$D/podman/run" --tmpdir "$D/podman/tmp" --storage-driver vfs \
		--cgroup-manager cgroupfs --events-backend file "$@"
}
trap 'pm rm -af >/dev/null 2>&1; finish' EXIT

# show_at DIR: DIR as installed under $D/inst laid over the real one. The
# overlay goes on DIR's nearest existing ancestor (it may not exist yet).
show_at() {
	a=$1
	while [ ! -d "$a" ]; do a=$(dirname "$a"); done
	[ "$a" != / ] || { fail "cannot show $1: no ancestor but /"; return 1; }
	grep -qx "$a" "$D/shown" 2>/dev/null && return 0
	mount -t overlay overlay -o "ro,lowerdir=$D/inst$a:$a" "$a" || { fail "overlay on $a"; return 1; }
	echo "$a" >>"$D/shown"
}

# --- the installed hook files, at the places podman reads by default
if ! DESTDIR=$D/inst cmake --install "$BUILD" --component oci-hook >"$D/install.log" 2>&1; then
	fail "cmake --install --component oci-hook: $(cat "$D/install.log")"
	exit 1
fi
json=$D/inst$HOOKS_DIR/warmblock-create.json
[ -f "$json" ] && [ -f "$D/inst$HOOKS_DIR/warmblock-poststop.json" ] ||
	{ fail "no hook JSON in $HOOKS_DIR: $(cat "$D/install.log")"; exit 1; }
hook=$(json_get 'j["hook"]["path"]' <"$json")
case $hook in
/*) [ -x "$D/inst$hook" ] && pass "the hook JSON names the installed hook by its absolute path ($hook)" ||
	fail "the hook JSON names $hook, which the install did not put there" ;;
*) fail "the hook JSON names a relative path: $hook" ;;
esac
# Deepest last: an overlay on a directory hides later overlays beneath it.
for dir in $(printf '%s\n' "$(dirname "$hook")" "$HOOKS_DIR" | awk '{ print length, $0 }' | sort -n | cut -d' ' -f2-); do
	show_at "$dir" || exit 1
done
mkdir -p /run/warmblock && mount --bind "$D/run" /run/warmblock || { fail "bind $D/run on /run/warmblock"; exit 1; }

config
start_daemon

# A busybox image, imported from a root filesystem (no registry).
cp "$(command -v busybox)" "$D/rootfs/bin/busybox"
for c in sh echo cat grep ls test true; do ln -s busybox "$D/rootfs/bin/$c"; done
tar -C "$D/rootfs" -c . | pm import - localhost/wb-busybox >"$D/out" 2>&1 || { fail "podman import: $(cat "$D/out")"; exit 1; }

# prun NAME ANNOTATION SCRIPT: podman run --rm; output in $D/out, hook
# messages (crun writes them where run.oci.hooks.stderr says) appended.
prun() {
	rm -f "$D/hook.err"
	s=$(date +%s)
	pm run --rm --name "$1" --network none --annotation "$2" --annotation "run.oci.hooks.stderr=$D/hook.err" \
		localhost/wb-busybox sh -c "$3" >"$D/out" 2>&1
	rc=$?
	note "podman run $1: exit $rc in $(($(date +%s) - s))s"
	cat "$D/hook.err" >>"$D/out" 2>/dev/null
	return $rc
}

# The README's command, with ';' between the options.
if prun eph "io.warmblock.volume/data=path=/data;class=small" \
	'grep " /data " /proc/mounts; echo written >/data/hello && cat /data/hello'; then
	grep -Eq '^/dev/ublkb[0-9]+ /data ext4 ' "$D/out" && grep -q '^written$' "$D/out" &&
		pass "podman: /data is an ext4 mount of a ublk disk, written to: $(grep ' /data ' "$D/out")" ||
		fail "podman: no ublk ext4 mount at /data: $(cat "$D/out")"
else
	fail "podman run with a volume failed: $(cat "$D/out")"
fi
[ "$(volume_count)" = 0 ] && pass "podman: the ephemeral volume is gone once the container is removed" ||
	fail "podman: volumes left after the ephemeral one: $(wb volume ls)"

# Without --rm podman runs no poststop hook at exit (it runs poststop hooks
# itself, at removal): warmblockd's owner check releases the volume once the
# container's init is gone.
s=$(date +%s)
if pm run --name kept --network none --annotation "io.warmblock.volume/data=path=/data;class=small" \
	localhost/wb-busybox true >"$D/out" 2>&1; then
	for _ in $(seq 150); do [ "$(volume_count)" = 0 ] && break; sleep 0.2; done
	[ "$(volume_count)" = 0 ] &&
		pass "podman: an exited, unremoved container's volume is released by warmblockd ($(($(date +%s) - s))s)" ||
		fail "podman: an exited container's volume stays: $(wb volume ls)"
else
	fail "podman run without --rm failed: $(cat "$D/out")"
fi
pm rm kept >/dev/null 2>&1 || fail "podman rm of the exited container"

prun named1 "io.warmblock.volume/db=path=/var/db;class=small;name=pgdata" 'echo kept >/var/db/file' ||
	fail "named volume, first container: $(cat "$D/out")"
prun named2 "io.warmblock.volume/db=path=/var/db;class=small;name=pgdata" 'cat /var/db/file' &&
	grep -q '^kept$' "$D/out" && pass "podman: a named volume keeps its data for the next container" ||
	fail "podman: the named volume lost its data: $(cat "$D/out")"
[ "$(wb --json volume ls | json_get '[v["name"] for v in j["volumes"]]')" = "['pgdata']" ] &&
	pass "podman: the named volume is still listed by warmblockd" || fail "podman: volumes: $(wb volume ls)"
wb volume rm pgdata >/dev/null || fail "volume rm pgdata"

# Refused starts: the container's command never runs.
if prun bad "io.warmblock.volume/x=path=/proc;class=small" 'echo started'; then
	fail "podman: a container with a bad annotation started: $(cat "$D/out")"
else
	note "podman says: $(grep -m1 '^Error' "$D/out")"
	! grep -q '^started$' "$D/out" && grep -q 'warmblock-oci-hook: annotation io.warmblock.volume/x: path "/proc"' "$D/out" &&
		pass "podman: a bad annotation stops the start with the hook's message" ||
		fail "podman: bad annotation: $(cat "$D/out")"
fi
# podman splits --annotation at commas: the comma form loses its class and
# is refused, with a pointer to ';'.
if prun split "io.warmblock.volume/data=path=/data,class=small" 'echo started'; then
	fail "podman: the comma form started a container: $(cat "$D/out")"
else
	! grep -q '^started$' "$D/out" && grep -q "separate the options with ';'" "$D/out" &&
		pass "podman: the comma form is refused with a hint at ';'" || fail "podman: comma form: $(cat "$D/out")"
fi
[ "$(volume_count)" = 0 ] || fail "volumes left after the refused starts: $(wb volume ls)"

took=$(($(date +%s) - t0))
figure podman_e2e_seconds "$took"
echo "podman e2e: $failures failure(s) in ${took}s"
[ "$failures" = 0 ]
