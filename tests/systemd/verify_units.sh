#!/bin/sh
# verify_units.sh SERVICE SOCKET DAEMON: systemd-analyze verify on the units
# with ExecStart pointing at the built daemon. Any complaint fails: verify
# only warns (exit 0) about values it ignores, such as a misspelt Type=.
set -eu
service=$1 socket=$2 daemon=$3
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "skipped: systemd-analyze is not installed (apt install systemd)"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=.*|ExecStart=$daemon|" "$service" >"$dir/warmblockd.service"
cp "$socket" "$dir/warmblockd.socket"
out=$(systemd-analyze verify --man=no "$dir/warmblockd.service" "$dir/warmblockd.socket" 2>&1) || {
	echo "$out"
	exit 1
}
if [ -n "$out" ]; then
	echo "systemd-analyze verify complained:"
	echo "$out"
	exit 1
fi
echo "units verified: warmblockd.service warmblockd.socket"
