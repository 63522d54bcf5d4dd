#include "pool_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "warmblock/base/fd.h"

namespace warmblock::thinpool {

std::string DataFile(const std::string& dir) { return dir + "/data.img"; }
std::string MetadataFile(const std::string& dir) { return dir + "/metadata.img"; }

Status CreateSparseFile(const std::string& path, uint64_t bytes) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "create " + path);
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) < 0)
    return Status::FromErrno(errno, "truncate " + path + " to " + std::to_string(bytes));
  return Status::OK();
}

Status ZeroSuperblock(const std::string& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  char zeros[4096] = {};  // one metadata block
  if (::pwrite(fd.get(), zeros, sizeof zeros, 0) != static_cast<ssize_t>(sizeof zeros) || ::fsync(fd.get()) != 0)
    return Status::FromErrno(errno, "zero metadata superblock of " + path);
  return Status::OK();
}

Status ExtendFile(const std::string& path, uint64_t bytes) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return Status::FromErrno(errno, "stat " + path);
  if (static_cast<uint64_t>(st.st_size) >= bytes) return Status::OK();
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) < 0 || ::fsync(fd.get()) < 0)
    return Status::FromErrno(errno, "extend " + path + " to " + std::to_string(bytes) + " bytes");
  return Status::OK();
}

}  // namespace warmblock::thinpool
