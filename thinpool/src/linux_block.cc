// LoopDevices over /dev/loop-control and LOOP_CONFIGURE (Linux >= 5.8): one
// ioctl binds the file, sets direct I/O and autoclear; LOOP_SET_CAPACITY
// follows a grown backing file.
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "warmblock/base/fd.h"
#include "warmblock/thinpool/kernel.h"

namespace warmblock::thinpool {
namespace {

class LinuxLoop final : public LoopDevice {
 public:
  LinuxLoop(Fd fd, std::string path, dev_t devno, bool dio)
      : fd_(std::move(fd)), path_(std::move(path)), devno_(devno), dio_(dio) {}
  const std::string& path() const override { return path_; }
  dev_t devno() const override { return devno_; }
  bool direct_io() const override { return dio_; }

 private:
  Fd fd_;
  std::string path_;
  dev_t devno_;
  bool dio_;
};

class LinuxBlock final : public BlockDevices {
 public:
  Result<std::unique_ptr<LoopDevice>> Attach(const std::string& file) override {
    Fd backing(::open(file.c_str(), O_RDWR | O_CLOEXEC));
    if (backing.get() < 0) return Status::FromErrno(errno, "open " + file);
    Fd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (control.get() < 0) return Status::FromErrno(errno, "open /dev/loop-control");
    // Another process may grab the free device between GET_FREE and
    // CONFIGURE (EBUSY): ask again.
    for (int attempt = 0; attempt < 16; ++attempt) {
      int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
      if (n < 0) return Status::FromErrno(errno, "loop get free");
      std::string path = "/dev/loop" + std::to_string(n);
      Fd loop(::open(path.c_str(), O_RDWR | O_CLOEXEC));
      if (loop.get() < 0) return Status::FromErrno(errno, "open " + path);
      loop_config config{};
      config.fd = static_cast<uint32_t>(backing.get());
      config.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
      bool dio = true;
      int rc = ::ioctl(loop.get(), LOOP_CONFIGURE, &config);
      if (rc < 0 && errno == EINVAL) {
        // Some file systems (tmpfs before 6.6) cannot do O_DIRECT.
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        dio = false;
        rc = ::ioctl(loop.get(), LOOP_CONFIGURE, &config);
      }
      if (rc < 0 && errno == EBUSY) continue;
      if (rc < 0) return Status::FromErrno(errno, "loop configure " + path, file);
      if (dio) {
        // The kernel may clear the flag silently; report what is in force.
        loop_info64 info{};
        if (::ioctl(loop.get(), LOOP_GET_STATUS64, &info) == 0) dio = (info.lo_flags & LO_FLAGS_DIRECT_IO) != 0;
      }
      struct stat st {};
      if (::fstat(loop.get(), &st) < 0) return Status::FromErrno(errno, "stat " + path);
      return std::unique_ptr<LoopDevice>(std::make_unique<LinuxLoop>(std::move(loop), path, st.st_rdev, dio));
    }
    return Status::FromErrno(EBUSY, "loop attach " + file, "no free loop device after 16 attempts");
  }

  Result<BlockInfo> Probe(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Status::FromErrno(errno, "open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return Status::FromErrno(errno, "stat " + path);
    if (!S_ISBLK(st.st_mode)) return Status::InvalidArgument(path + " is not a block device");
    BlockInfo info;
    info.devno = st.st_rdev;
    if (::ioctl(fd.get(), BLKGETSIZE64, &info.size_bytes) < 0) return Status::FromErrno(errno, "BLKGETSIZE64 " + path);
    return info;
  }

  Status RefreshLoop(dev_t loop) override {
    // The pool table holds the loop device, not us: find its node through
    // sysfs (no udev, so no /dev/block links), and make sure it is the same
    // device before resizing it.
    const std::string dev = std::to_string(::major(loop)) + ":" + std::to_string(::minor(loop));
    const std::string uevent = "/sys/dev/block/" + dev + "/uevent";
    std::ifstream in(uevent);
    if (!in) return Status::FromErrno(errno ? errno : ENOENT, "read " + uevent);
    std::string name;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("DEVNAME=", 0) == 0) name = line.substr(8);
    if (name.rfind("loop", 0) != 0) return Status::InvalidArgument("block device " + dev + " is not a loop device");
    const std::string path = "/dev/" + name;
    Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) return Status::FromErrno(errno, "open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return Status::FromErrno(errno, "stat " + path);
    if (!S_ISBLK(st.st_mode) || st.st_rdev != loop)
      return Status::InvalidArgument(path + " is not block device " + dev);
    if (::ioctl(fd.get(), LOOP_SET_CAPACITY, 0) < 0) return Status::FromErrno(errno, "loop set capacity " + path);
    return Status::OK();
  }
};

}  // namespace

std::unique_ptr<BlockDevices> LinuxBlockDevices() { return std::make_unique<LinuxBlock>(); }

}  // namespace warmblock::thinpool
