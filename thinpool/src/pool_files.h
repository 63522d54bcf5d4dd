// The embedded pool's two sparse files in its state directory: making,
// extending and wiping them. No device-mapper here.
#pragma once

#include <cstdint>
#include <string>

#include "warmblock/base/status.h"

namespace warmblock::thinpool {

std::string DataFile(const std::string& dir);      // <dir>/data.img
std::string MetadataFile(const std::string& dir);  // <dir>/metadata.img

// Creates a sparse file of `bytes`; kAlreadyExists if it is there.
Status CreateSparseFile(const std::string& path, uint64_t bytes);

// dm-thin formats new metadata only when its superblock is zero; a device
// that held another pool must be wiped or the old pool comes back.
Status ZeroSuperblock(const std::string& path);

// Makes the file at `path` at least `bytes` long (sparse; never shrinks it)
// and durable at that size before anyone records it.
Status ExtendFile(const std::string& path, uint64_t bytes);

}  // namespace warmblock::thinpool
