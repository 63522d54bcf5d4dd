# Shared helpers for the tools/vm scripts.  Sourced, not executed.
# shellcheck shell=bash

# Exit status of vm_die; tools/vm/run sets 125 so that harness failures do
# not look like a failing command.
VM_DIE_STATUS=${VM_DIE_STATUS:-1}

vm_die() {
	printf 'vm: %s\n' "$*" >&2
	exit "$VM_DIE_STATUS"
}

vm_note() {
	printf 'vm: %s\n' "$*" >&2
}

# Root of the cache shared by all VM tooling.
vm_cache_root() {
	printf '%s/vm\n' "${WARMBLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warmblock}"
}

# Validate a kernel flavour name.
vm_check_flavour() {
	case "$1" in
	lts | new) ;;
	*) vm_die "unknown kernel '$1' (expected 'lts' or 'new')" ;;
	esac
}

# Run "$@" while holding an exclusive lock on file $1 (created if needed).
# The lock is held on fd 9 by a subshell, so it is released when the
# command finishes, whatever happens.
vm_with_lock() {
	local lock=$1
	shift
	mkdir -p "$(dirname "$lock")"
	(
		exec 9>"$lock"
		if ! flock -n 9; then
			vm_note "waiting for another process holding $lock"
			flock 9
		fi
		"$@"
	)
}
