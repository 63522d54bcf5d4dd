// DeviceMapper over libdevmapper's dm_task ioctls. The only file of the
// module that includes libdevmapper.h.
#include <fcntl.h>
#include <libdevmapper.h>
#include <linux/dm-ioctl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <mutex>

#include "warmblock/thinpool/kernel.h"

namespace warmblock::thinpool {
namespace {

// libdevmapper prints its own errors to stderr; we report errno with our own
// context instead, so its log is dropped.
void QuietLog(int, const char*, int, int, const char*, ...) {}

struct TaskDeleter {
  void operator()(dm_task* t) const { dm_task_destroy(t); }
};
using Task = std::unique_ptr<dm_task, TaskDeleter>;

const char* OpName(int type) {
  switch (type) {
    case DM_DEVICE_CREATE:
      return "dm create";
    case DM_DEVICE_RELOAD:
      return "dm load";
    case DM_DEVICE_REMOVE:
      return "dm remove";
    case DM_DEVICE_SUSPEND:
      return "dm suspend";
    case DM_DEVICE_RESUME:
      return "dm resume";
    case DM_DEVICE_INFO:
      return "dm info";
    case DM_DEVICE_TABLE:
      return "dm table";
    case DM_DEVICE_STATUS:
      return "dm status";
    case DM_DEVICE_TARGET_MSG:
      return "dm message";
    case DM_DEVICE_LIST:
      return "dm list";
    default:
      return "dm";
  }
}

class LinuxDm final : public DeviceMapper {
 public:
  LinuxDm() {
    dm_udev_set_sync_support(0);
    dm_log_with_errno_init(QuietLog);
  }

  Status Create(const std::string& name, const std::vector<DmTarget>& table) override {
    Task t;
    WB_RETURN_IF_ERROR(NewTask(DM_DEVICE_CREATE, name, &t));
    WB_RETURN_IF_ERROR(AddTargets(t.get(), table, name));
    // Create loads the table and resumes in one libdevmapper call.
    return Run(t.get(), DM_DEVICE_CREATE, name);
  }

  Status Reload(const std::string& name, const std::vector<DmTarget>& table) override {
    Task t;
    WB_RETURN_IF_ERROR(NewTask(DM_DEVICE_RELOAD, name, &t));
    WB_RETURN_IF_ERROR(AddTargets(t.get(), table, name));
    WB_RETURN_IF_ERROR(Run(t.get(), DM_DEVICE_RELOAD, name));
    WB_RETURN_IF_ERROR(Suspend(name));
    return Resume(name);
  }

  Status Remove(const std::string& name) override { return Simple(DM_DEVICE_REMOVE, name); }
  Status Suspend(const std::string& name) override { return Simple(DM_DEVICE_SUSPEND, name); }
  Status Resume(const std::string& name) override { return Simple(DM_DEVICE_RESUME, name); }

  Result<DmInfo> Info(const std::string& name) override {
    Task t;
    WB_RETURN_IF_ERROR(NewTask(DM_DEVICE_INFO, name, &t));
    WB_RETURN_IF_ERROR(Run(t.get(), DM_DEVICE_INFO, name));
    dm_info info{};
    if (!dm_task_get_info(t.get(), &info)) return Status::FromErrno(EIO, "dm info " + name);
    if (!info.exists) return Status::FromErrno(ENXIO, "dm info " + name);
    DmInfo out;
    out.major = info.major;
    out.minor = info.minor;
    out.suspended = info.suspended != 0;
    out.open_count = info.open_count;
    out.event_nr = info.event_nr;
    return out;
  }

  Result<std::vector<DmTarget>> Table(const std::string& name, bool table) override {
    int type = table ? DM_DEVICE_TABLE : DM_DEVICE_STATUS;
    Task t;
    WB_RETURN_IF_ERROR(NewTask(type, name, &t));
    WB_RETURN_IF_ERROR(Run(t.get(), type, name));
    dm_info info{};
    if (!dm_task_get_info(t.get(), &info) || !info.exists) return Status::FromErrno(ENXIO, OpName(type) + (" " + name));
    std::vector<DmTarget> out;
    void* next = nullptr;
    do {
      uint64_t start = 0, length = 0;
      char* target_type = nullptr;
      char* params = nullptr;
      next = dm_get_next_target(t.get(), next, &start, &length, &target_type, &params);
      if (target_type == nullptr) break;
      out.push_back({start, length, target_type, params ? params : ""});
    } while (next != nullptr);
    return out;
  }

  Status Message(const std::string& name, const std::string& message) override {
    Task t;
    WB_RETURN_IF_ERROR(NewTask(DM_DEVICE_TARGET_MSG, name, &t));
    if (!dm_task_set_sector(t.get(), 0) || !dm_task_set_message(t.get(), message.c_str()))
      return Status::FromErrno(ENOMEM, message, "pool " + name);
    if (!dm_task_run(t.get())) return Status::FromErrno(TaskErrno(t.get()), message, "pool " + name);
    return Status::OK();
  }

  Result<std::vector<std::string>> List() override {
    Task t(dm_task_create(DM_DEVICE_LIST));
    if (!t) return Status::FromErrno(ENOMEM, "dm list");
    WB_RETURN_IF_ERROR(Run(t.get(), DM_DEVICE_LIST, ""));
    std::vector<std::string> out;
    dm_names* names = dm_task_get_names(t.get());
    if (names == nullptr || names->dev == 0) return out;
    for (;;) {
      out.emplace_back(names->name);
      if (names->next == 0) break;
      names = reinterpret_cast<dm_names*>(reinterpret_cast<char*>(names) + names->next);
    }
    return out;
  }

  // Poll-based: DM_DEV_ARM_POLL on our own control fd makes poll() wake on the
  // next dm event of any device; we re-check the device's counter each time.
  // Unlike DM_DEVICE_WAITEVENT this honours a timeout and cannot hang.
  Result<uint32_t> WaitEvent(const std::string& name, uint32_t last_event_nr, int timeout_ms) override {
    std::lock_guard<std::mutex> lock(poll_mu_);
    if (control_fd_ < 0) {
      control_fd_ = ::open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
      if (control_fd_ < 0) return Status::FromErrno(errno, "open /dev/mapper/control");
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      dm_ioctl arm{};
      arm.version[0] = DM_VERSION_MAJOR;
      arm.version[1] = DM_VERSION_MINOR;
      arm.version[2] = DM_VERSION_PATCHLEVEL;
      arm.data_size = sizeof(arm);
      if (::ioctl(control_fd_, DM_DEV_ARM_POLL, &arm) < 0) return Status::FromErrno(errno, "dm arm poll");
      WB_ASSIGN_OR_RETURN(DmInfo info, Info(name));
      if (info.event_nr != last_event_nr) return info.event_nr;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Status::FromErrno(ETIMEDOUT, "wait for dm event on " + name);
      pollfd p{control_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR)
        return Status::FromErrno(errno, "poll /dev/mapper/control");
    }
  }

  Result<std::string> NodePath(uint32_t major, uint32_t minor) override {
    // devtmpfs names device-mapper disks dm-<minor>; create the node when /dev
    // is not devtmpfs so that callers always get a usable path.
    std::string path = "/dev/dm-" + std::to_string(minor);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISBLK(st.st_mode) && st.st_rdev == makedev(major, minor)) return path;
      ::unlink(path.c_str());
    }
    if (::mknod(path.c_str(), S_IFBLK | 0600, makedev(major, minor)) < 0 && errno != EEXIST)
      return Status::FromErrno(errno, "mknod " + path);
    return path;
  }

  ~LinuxDm() override {
    if (control_fd_ >= 0) ::close(control_fd_);
  }

 private:
  static int TaskErrno(dm_task* t) {
    int err = dm_task_get_errno(t);
    return err != 0 ? err : (errno != 0 ? errno : EIO);
  }

  static Status NewTask(int type, const std::string& name, Task* out) {
    out->reset(dm_task_create(type));
    if (!*out) return Status::FromErrno(ENOMEM, OpName(type) + (" " + name));
    if (!dm_task_set_name(out->get(), name.c_str())) return Status::FromErrno(EINVAL, OpName(type) + (" " + name));
    return Status::OK();
  }

  static Status AddTargets(dm_task* t, const std::vector<DmTarget>& table, const std::string& name) {
    for (const auto& target : table) {
      if (!dm_task_add_target(t, target.start, target.length, target.type.c_str(), target.params.c_str()))
        return Status::FromErrno(ENOMEM, "dm add target " + target.type, name);
    }
    return Status::OK();
  }

  static Status Run(dm_task* t, int type, const std::string& name) {
    errno = 0;
    if (!dm_task_run(t)) return Status::FromErrno(TaskErrno(t), std::string(OpName(type)) + " " + name);
    return Status::OK();
  }

  static Status Simple(int type, const std::string& name) {
    Task t;
    WB_RETURN_IF_ERROR(NewTask(type, name, &t));
    return Run(t.get(), type, name);
  }

  std::mutex poll_mu_;  // one waiter at a time owns control_fd_'s poll state
  int control_fd_ = -1;
};

}  // namespace

std::unique_ptr<DeviceMapper> LinuxDeviceMapper() { return std::make_unique<LinuxDm>(); }

}  // namespace warmblock::thinpool
