#!/bin/sh
# Access control: who may talk to warmblockd, what it
# logs, and that no name, path or annotation escapes where it belongs.
# access.sh WARMBLOCKD CLI HOOK
set -u
NAME=access
WARMBLOCKD=$1 CLI=$2 HOOK=$3
TOOLS="setpriv getent"
. "$(dirname "$0")/lib.sh"

WARM=1 config
start_daemon
ready || exit 1
gid=$(getent group warmblock | cut -d: -f3)
[ -n "$gid" ] || { fail "warmblockd did not make the group warmblock"; exit 1; }
tried=0
accepted=0
# refused WHAT COMMAND...: COMMAND must fail; counts as a bad input tried
refused() {
	what=$1
	shift
	tried=$((tried + 1))
	if "$@" >"$D/out" 2>&1; then
		accepted=$((accepted + 1))
		fail "accepted: $what ($(head -c 300 "$D/out"))"
	fi
}

# The socket: nobody (uid 65534) outside the group is refused by the
# kernel; the same user in the group gets in, and what it changes is logged
# with its uid and pid.
as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
as_member() { setpriv --reuid 65534 --regid 65534 --groups "$gid" "$@"; }
refused "a user outside the group connects" as_nobody curl -sf --unix-socket "$SOCK" http://x/v1/volumes
refused "a user outside the group runs the CLI" as_nobody "$CLI" --socket "$SOCK" volume ls
grep -q "are you root or in group warmblock" "$D/out" && pass "the CLI tells an outsider why" ||
	fail "the CLI's message to an outsider: $(cat "$D/out")"
if as_member "$CLI" --socket "$SOCK" volume create by-member --class small >"$D/out" 2>&1 &&
	as_member "$CLI" --socket "$SOCK" volume rm by-member >>"$D/out" 2>&1; then
	pass "a member of group warmblock creates and removes a volume"
else
	fail "a group member was refused: $(cat "$D/out")"
fi
grep -q 'created volume "by-member" .* uid 65534' "$D/wb.log" && grep -q 'delete volume "by-member" by pid [0-9]* uid 65534' "$D/wb.log" &&
	pass "both changes are logged with the peer's pid and uid" || fail "changes not logged with pid and uid"

# Names through the API and the CLI: traversal, absolute, NUL, control
# characters, overlong, and names that would be special to a shell or to
# device-mapper. None may be accepted. (Names never become paths: thin
# devices get generated names, disks are /dev/ublkbN.)
long=$(printf 'a%.0s' $(seq 300))
for name in "../etc" "../../x" "/abs" "a/b" "." ".." "-rf" ".hidden" "a b" "a;b" "\$(x)" "a\\u0000b" "a\\nb" "$long" \
	"ünicode" "a\\u00ffb" ""; do
	refused "create name \"$name\"" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' \
		-H 'Content-Type: application/json' -d '{\"name\": \"$name\", \"class\": \"small\"}' http://x/v1/volumes)\" -lt 300 ]"
done
for path in "/v1/volumes/..%2F..%2Fetc" "/v1/volumes/%2e%2e" "/v1/volumes/a%00b" "/v1/volumes/..%2Fpool"; do
	refused "DELETE $path" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' -X DELETE \
		'http://x$path')\" -lt 300 ]"
done
for name in "../x" "/abs" "$long"; do
	refused "CLI create \"$name\"" wb volume create "$name" --class small
done
refused "labels with a NUL" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$SOCK' \
	-H 'Content-Type: application/json' -d '{\"name\": \"ok\", \"class\": \"small\", \"labels\": {\"a\\u0000\": \"b\"}}' \
	http://x/v1/volumes)\" -lt 300 ]"
api DELETE /v1/volumes/ok >/dev/null
[ "$(volume_count)" = 0 ] && pass "no volume was made from a bad name" || fail "volumes after bad names: $(volume_count)"
# The hook: annotations that would mount over the container's own
# filesystems or escape it are refused before any volume is made, with the
# hook's message and a non-zero exit.
mkdir -p "$D/bundle/rootfs"
for p in "/" "/proc" "/proc/sys" "/sys" "/sys/fs/cgroup" "/dev" "/dev/shm" "/." "//proc" "/data/../proc" \
	"/data/../../etc" "data" "../data" "/da\\u0000ta" ""; do
	state="{\"ociVersion\": \"1.0.2\", \"id\": \"acc\", \"status\": \"creating\", \"pid\": $$, \"bundle\": \"$D/bundle\",
		\"annotations\": {\"io.warmblock.volume/data\": \"path=$p,class=small\"}}"
	refused "hook path \"$p\"" sh -c "printf '%s' '$state' | '$HOOK' --socket '$SOCK' create"
	grep -q "warmblock-oci-hook: " "$D/out" || fail "hook path \"$p\": no hook message: $(cat "$D/out")"
done
[ "$(volume_count)" = 0 ] && pass "the hook made no volume for a bad path" || fail "volumes after bad hook paths: $(volume_count)"

figure bad_inputs_tried $tried
require_zero bad_inputs_accepted $accepted
echo "$NAME: $failures failure(s)"
[ "$failures" = 0 ]
