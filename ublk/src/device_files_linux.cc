#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "device_files.h"
#include "uapi.h"

namespace warmblock::ublk {
namespace {

class LinuxFiles final : public DeviceFiles {
 public:
  Result<Backing> OpenBacking(const std::string& path) override {
    Backing b;
    b.fd = Fd(::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    if (!b.fd.valid()) return Status::FromErrno(errno, "open backing " + path, "O_DIRECT");
    struct stat st {};
    b.is_block = ::fstat(b.fd.get(), &st) == 0 && S_ISBLK(st.st_mode);
    if (b.is_block) {
      ::ioctl(b.fd.get(), BLKGETSIZE64, &b.size);
    } else {
      b.size = static_cast<uint64_t>(st.st_size);
    }
    return b;
  }

  Result<Fd> OpenChar(uint32_t id) override {
    std::string path = "/dev/ublkc" + std::to_string(id);
    Fd fd;
    // devtmpfs (or udev) creates the node; give udev a moment where it runs.
    for (int i = 0; i < 200 && !fd.valid(); ++i) {
      fd = Fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
      if (!fd.valid() && errno != ENOENT) break;
      if (!fd.valid()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!fd.valid()) return Status::FromErrno(errno, "open " + path);
    return fd;
  }

  Result<Mapping> MapDescriptors(int char_fd, uint16_t q, size_t len) override {
    void* m =
        ::mmap(nullptr, len, PROT_READ, MAP_SHARED | MAP_POPULATE, char_fd, static_cast<off_t>(abi::DescOffset(q)));
    if (m == MAP_FAILED) return Status::FromErrno(errno, "mmap descriptors of queue " + std::to_string(q));
    return Mapping(m, len);
  }

  bool ExclusivelyHeld(const std::string& disk) override {
    int fd = ::open(disk.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    return fd < 0 && errno == EBUSY;
  }
};

}  // namespace

std::unique_ptr<DeviceFiles> LinuxDeviceFiles() { return std::make_unique<LinuxFiles>(); }

}  // namespace warmblock::ublk
