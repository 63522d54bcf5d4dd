# Shared by tools/test, tools/demo and tools/bench. Sourced, not executed.
# shellcheck shell=bash

WB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WB_BUILD=${WARMBLOCK_BUILD_DIR:-$WB_ROOT/build}
WB_START=$SECONDS

wb_step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - WB_START))" "$*" >&2; }
wb_note() { printf '    %s\n' "$*" >&2; }
wb_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian 12 packages the build, the tests, the VM and the benchmarks need.
WB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  liburing-dev libaio-dev libdevmapper-dev dmsetup
  libgtest-dev libgmock-dev libbenchmark-dev
  qemu-system-x86 qemu-utils busybox-static kmod cpio xz-utils zstd
  libsqlite3-dev libtomlplusplus-dev nlohmann-json3-dev libmicrohttpd-dev libsystemd-dev libcli11-dev
  curl systemd crun runc podman gnuplot-nox
  e2fsprogs xfsprogs thin-provisioning-tools util-linux fio python3 clang-format
  clang libclang-rt-14-dev
)

# Installs whichever of WB_PACKAGES are missing (apt-get shows progress).
wb_ensure_packages() {
  local missing=() p
  for p in "${WB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    wb_note "all ${#WB_PACKAGES[@]} packages present"
    return
  fi
  [ "$(id -u)" -eq 0 ] || wb_die "missing packages (${missing[*]}); run as root or install them"
  wb_note "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || wb_die "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${missing[@]}" || wb_die "apt-get install failed"
}

# wb_build DIR [cmake args...]: configure (once) and build with progress.
wb_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$WB_ROOT" -B "$dir" -G Ninja -DWARMBLOCK_WERROR=ON "$@" >/dev/null ||
      wb_die "cmake configure of $dir failed"
  fi
  cmake --build "$dir" -j"${WB_JOBS:-$(nproc)}" || wb_die "build in $dir failed"
}

# Whether kernel work can run on this host: root, device-mapper thin pool,
# loop devices and ublk with USER_COPY-era features present (or loadable).
# Prints the reason when not.
wb_native_kernel_ok() {
  [ "$(id -u)" -eq 0 ] || { echo "not root"; return 1; }
  if [ ! -e /dev/mapper/control ] && ! modprobe -q dm-thin-pool 2>/dev/null; then
    echo "no device-mapper (and modules cannot be loaded)"; return 1
  fi
  if ! grep -qw thin-pool <(dmsetup targets 2>/dev/null) && ! modprobe -q dm-thin-pool 2>/dev/null; then
    echo "no dm thin-pool target"; return 1
  fi
  [ -e /dev/loop-control ] || { echo "no loop devices"; return 1; }
  if [ ! -e /dev/ublk-control ] && ! modprobe -q ublk_drv ublks_max=1024 2>/dev/null; then
    echo "no ublk (and ublk_drv cannot be loaded)"; return 1
  fi
  return 0
}

# wb_kernel_mode: "native" or "vm", honouring WARMBLOCK_KERNEL_MODE.
wb_kernel_mode() {
  case "${WARMBLOCK_KERNEL_MODE:-auto}" in
    native | vm) echo "$WARMBLOCK_KERNEL_MODE" ;;
    auto) if wb_native_kernel_ok >/dev/null; then echo native; else echo vm; fi ;;
    *) wb_die "WARMBLOCK_KERNEL_MODE must be auto, native or vm" ;;
  esac
}

# wb_in_kernel MODE KERNEL -- CMD...: runs CMD natively or in the VM with the
# build directory shared read-write so results come back.
wb_in_kernel() {
  local mode=$1 kernel=$2
  shift 3
  if [ "$mode" = native ]; then
    "$@"
  else
    "$WB_ROOT/tools/vm/run" --kernel "$kernel" --rw "$WB_BUILD" -- "$@"
  fi
}
