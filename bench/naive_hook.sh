#!/bin/sh
# The naive baselines of `tools/bench startup`: an OCI hook that makes a
# container's volume the way scripts and older drivers do, with a process
# per step and mkfs on every start.
#
#   naive_hook.sh dm-create POOL THIN_ID SECTORS TARGET     (createRuntime)
#   naive_hook.sh dm-poststop POOL THIN_ID                  (poststop)
#   naive_hook.sh loop-create IMAGE SIZE TARGET             (createRuntime)
#   naive_hook.sh loop-poststop IMAGE                       (poststop)
#
# TARGET is the mount point under the container's root filesystem, mounted
# in the container's mount namespace (its pid comes in the state on stdin).
set -eu
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
mkfs() { mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=1 "$1"; }
mount_in() { nsenter -t "$pid" -m -- sh -c "mkdir -p '$2' && mount -t ext4 '$1' '$2'"; }
# A device still held by the dying container's mount namespace is busy for
# a moment after its exit.
retry() { for _ in 1 2 3 4 5 6 7 8 9 10; do "$@" 2>/dev/null && return 0; sleep 0.1; done; "$@"; }

case "$1" in
dm-create)
	dmsetup message "$2" 0 "create_thin $3"
	dmsetup create --noudevsync "naive-$3" --table "0 $4 thin /dev/mapper/$2 $3"
	mkfs "/dev/mapper/naive-$3"
	mount_in "/dev/mapper/naive-$3" "$5"
	;;
dm-poststop)
	retry dmsetup remove --noudevsync "naive-$3"
	dmsetup message "$2" 0 "delete $3"
	;;
loop-create)
	truncate -s "$3" "$2"
	mkfs "$2"
	dev=$(losetup -f --show "$2")
	mount_in "$dev" "$4"
	;;
loop-poststop)
	for dev in $(losetup -j "$2" | cut -d: -f1); do retry losetup -d "$dev"; done
	rm -f "$2"
	;;
*)
	echo "naive_hook.sh: unknown step $1" >&2
	exit 2
	;;
esac
