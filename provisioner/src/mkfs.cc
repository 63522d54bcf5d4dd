// The Formatter that runs the filesystems' own tools.
#include <unistd.h>

#include <cstdlib>

#include "warmblock/base/process.h"
#include "warmblock/provisioner/provisioner.h"

namespace warmblock::provisioner {
namespace {

class Mkfs final : public Formatter {
 public:
  Status Format(const std::string& device, const std::string& fs) override {
    // Lazy init and no discard: a fresh thin reads as zeroes already, and
    // discarding it would only cost time. metadata_csum_seed lets
    // NewIdentity change the UUID without rewriting every checksum.
    if (fs == "xfs") return RunProgram({"mkfs.xfs", "-q", "-f", "-K", device});
    return RunProgram(
        {"mkfs.ext4", "-q", "-F", "-O", "metadata_csum_seed", "-E", "nodiscard,lazy_itable_init=1", device});
  }

  Status NewIdentity(const std::string& device, const std::string& fs) override {
    if (fs == "xfs") return RunProgram({"xfs_admin", "-U", "generate", device});
    return RunProgram({"tune2fs", "-U", "random", device});
  }

  Status Grow(const std::string& device, const std::string& fs) override {
    // A warm volume's filesystem was never mounted: resize2fs may skip its
    // fsck (-f). XFS grows only while mounted.
    if (fs != "xfs") return RunProgram({"resize2fs", "-f", device});
    char dir[] = "/tmp/warmblock-grow-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return Status::FromErrno(errno, "mkdtemp for xfs_growfs");
    Status s = RunProgram({"mount", "-t", "xfs", "-o", "nouuid", device, dir});
    if (s.ok()) {
      s = RunProgram({"xfs_growfs", "-d", dir});
      Status u = RunProgram({"umount", dir});
      if (s.ok()) s = u;
    }
    ::rmdir(dir);
    return s;
  }
};

}  // namespace

std::unique_ptr<Formatter> MkfsFormatter() { return std::make_unique<Mkfs>(); }

}  // namespace warmblock::provisioner
