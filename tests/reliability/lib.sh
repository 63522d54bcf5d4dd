# Shared by the reliability tests (CTest label reliability, in the VM; issue
# 7). Sourced by tests/reliability/*.sh after setting NAME (the test's name,
# which names its figures) and WARMBLOCKD, CLI (the binaries, from their
# arguments). The fourth argument of every test (CTest passes it) is
# ublk_census, which invariants() uses to tell this daemon's ublk devices.
#
# Figures: `figure KEY VALUE` records one; at exit they are written as a JSON
# object to $WARMBLOCK_FIGURES_DIR/$NAME.json (when that is set), which
# `tools/test reliability --json FILE` merges. `require_zero KEY VALUE`
# records it and fails the test unless it is 0.
#
# Exits 77 (skipped) without root, ublk or device-mapper, unless
# WARMBLOCK_REQUIRE_KERNEL=1, where that is a failure.

missing=""
[ "$(id -u)" = 0 ] || missing="root"
[ -w /dev/ublk-control ] || missing="$missing /dev/ublk-control"
[ -w /dev/mapper/control ] || missing="$missing /dev/mapper/control"
for tool in curl python3 ${TOOLS:-}; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
	echo "missing:$missing"
	[ "${WARMBLOCK_REQUIRE_KERNEL:-0}" = 1 ] && exit 1
	exit 77
fi

CENSUS=${CENSUS:-${4:-}}
D=${WARMBLOCK_SCRATCH:-/tmp}/wb-$NAME-$$
SOCK=$D/api.sock
mkdir -p "$D"
failures=0
daemon=""
: >"$D/figures"

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
note() { echo "   $*"; }
# figure KEY VALUE (VALUE is JSON: a number, true/false, or a quoted string)
figure() { echo "$1 $2" >>"$D/figures"; }
require_zero() {
	figure "$1" "$2"
	[ "$2" = 0 ] && pass "$1 = 0" || fail "$1 = $2 (must be 0)"
}

write_figures() {
	[ -n "${WARMBLOCK_FIGURES_DIR:-}" ] || return 0
	mkdir -p "$WARMBLOCK_FIGURES_DIR"
	python3 "$(dirname "$0")/write_figures.py" "$D/figures" "$WARMBLOCK_FIGURES_DIR/$NAME.json" "$failures"
}

finish() {
	stop_daemon
	"$WARMBLOCKD" --config "$D/wb.toml" --teardown >/dev/null 2>&1
	write_figures
	[ "$failures" = 0 ] || { echo "--- warmblockd log (tail)"; tail -n 40 "$D/wb.log" 2>/dev/null; }
	rm -rf "$D"
}
trap finish EXIT

# config [EXTRA TOML...]: writes $D/wb.toml, a daemon with an embedded pool
# in $D/state; POOL_SIZE (default 2G), CLASS_SIZE (64M) and WARM (4) set
# the pool and its one class "small"; EXTRA lines go before [pool].
config() {
	{
		echo "state_dir = \"$D/state\""
		echo "socket = \"$SOCK\""
		echo "reactors = 2"
		for line in "$@"; do echo "$line"; done
		echo "[pool]"
		echo "data_size = \"${POOL_SIZE:-2G}\""
		echo "[[class]]"
		echo "name = \"small\""
		echo "size = \"${CLASS_SIZE:-64M}\""
		echo "warm = ${WARM:-4}"
	} >"$D/wb.toml"
}

start_daemon() {
	"$WARMBLOCKD" --config "$D/wb.toml" 2>>"$D/wb.log" &
	daemon=$!
	for _ in $(seq 600); do
		curl -sf --unix-socket "$SOCK" http://x/healthz >/dev/null 2>&1 && return 0
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	echo "warmblockd did not start:"
	tail -n 40 "$D/wb.log"
	exit 1
}

# stop_daemon [SIGNAL]: default TERM (a clean stop)
stop_daemon() {
	[ -n "$daemon" ] || return 0
	kill -"${1:-TERM}" "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=""
}

wb() { "$CLI" --socket "$SOCK" "$@"; }
# api METHOD PATH [BODY]: prints the HTTP status, the body goes to $D/body
api() {
	curl -s -o "$D/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} \
		"http://x$2"
}
# jq-like: json_get EXPR < JSON (EXPR in Python on `j`)
json_get() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
volume_count() { wb --json volume ls | json_get 'len(j["volumes"])'; }
# invariants: the daemon's four views of its volumes cross-checked
# (invariants.py) into $D/invariants.json; prints the violation count.
invariants() {
	python3 "$(dirname "$0")/invariants.py" ${CENSUS:+--census "$CENSUS"} "$D/state" >"$D/invariants.json" ||
		{ echo 999; return; }
	json_get 'j["violations"]' <"$D/invariants.json"
}
# owned_ublk: the ublk devices carrying this daemon's owner mark, served or
# not, as "ID:STATE" words (needs CENSUS).
owned_ublk() {
	"$CENSUS" "$D/state" | json_get '" ".join("%d:%s" % (d["id"], d["state"]) for d in j)'
}
# ready: waits until the API serves volumes (after a restart, the disks are
# adopted before that)
ready() {
	for _ in $(seq 600); do
		[ "$(api GET /v1/volumes)" = 200 ] && return 0
		sleep 0.1
	done
	fail "warmblockd did not become ready"
	return 1
}
