// warmblockd's configuration: a TOML file (default
// /etc/warmblock/warmblockd.toml) whose every key has a default, so that no
// file at all gives a working daemon with an embedded pool of sparse files.
//
//   state_dir = "/var/lib/warmblock"         # database, pool catalogue, pool files
//   socket = "/run/warmblock/warmblockd.sock"
//   socket_group = "warmblock"                # socket is 0660 root:<group>
//   reactors = 0                              # ublk reactor threads, 0 = cores
//   orphan_grace_s = 10                       # an ephemeral volume whose owner is gone
//                                             # is released after this long, if its
//                                             # poststop hook has not done it
//   held_io_timeout_s = 120                   # after a stop, disks wait this long for
//                                             # the next warmblockd (I/O held); then
//                                             # they are removed and held I/O fails;
//                                             # 0 = wait for the next start forever
//
//   [pool]
//   data_size = "64G"        # embedded: sparse data file (overcommit allowed)
//   metadata_size = "0"      # 0 = derived from data_size and block_size
//   block_size = "64K"
//   max_data_size = "0"      # embedded: the data file grows up to this when
//                            # free space falls to the low-water mark (5%);
//                            # 0 = data_size, no growth: growing takes host
//                            # disk space, so it is the admin's choice
//   grow_step = "0"          # added per growth, 0 = data_size
//   data_device = ""         # both set: use these block devices instead
//   metadata_device = ""     # (they do not grow: no max_data_size/grow_step)
//
//   [warm]
//   refill_concurrency = 2   # volumes prepared at once in the background
//
//   [[class]]                # one per (filesystem, size) kept warm
//   name = "small"
//   fs = "ext4"              # ext4 or xfs
//   size = "1G"
//   warm = 8                 # ready volumes kept in stock
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "warmblock/base/status.h"

namespace warmblock::provisioner {

struct VolumeClass {
  std::string name;  // [a-z0-9][a-z0-9-]{0,31}
  std::string fs = "ext4";
  uint64_t size_bytes = 1ull << 30;
  unsigned warm = 8;
};

struct Config {
  std::string state_dir = "/var/lib/warmblock";
  std::string socket = "/run/warmblock/warmblockd.sock";
  std::string socket_group = "warmblock";
  unsigned reactors = 0;
  unsigned orphan_grace_s = 10;
  unsigned held_io_timeout_s = 120;

  uint64_t pool_data_bytes = 64ull << 30;
  uint64_t pool_metadata_bytes = 0;
  uint64_t pool_max_data_bytes = 0;   // 0 = pool_data_bytes
  uint64_t pool_grow_step_bytes = 0;  // 0 = pool_data_bytes
  uint64_t pool_block_bytes = 64 << 10;
  std::string pool_data_device;
  std::string pool_metadata_device;

  unsigned refill_concurrency = 2;
  std::vector<VolumeClass> classes = {VolumeClass{"small", "ext4", 1ull << 30, 8}};

  // The largest the embedded pool's data may grow to (pool_data_bytes when
  // it does not grow).
  uint64_t MaxPoolDataBytes() const;

  // The class of this filesystem and exact size, or nullptr.
  const VolumeClass* FindClass(const std::string& fs, uint64_t size_bytes) const;
  const VolumeClass* FindClass(const std::string& name) const;
};

// Parses TOML text; unknown keys, wrong types and bad values are
// kInvalidArgument naming the key and line. `origin` names the source in
// messages.
Result<Config> ParseConfig(const std::string& text, const std::string& origin);
// Reads and parses `path`; a missing file is the defaults when
// `missing_ok`, else kNotFound.
Result<Config> LoadConfig(const std::string& path, bool missing_ok);

// Checks values that do not depend on the file format (also used for
// flags that override the file).
Status ValidateConfig(const Config& config);

bool IsSupportedFs(const std::string& fs);

}  // namespace warmblock::provisioner
