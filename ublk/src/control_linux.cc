// Control commands as io_uring URING_CMDs on /dev/ublk-control.
#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "control.h"
#include "ring.h"
#include "warmblock/base/fd.h"

namespace warmblock::ublk {
namespace {

const char* CmdName(uint32_t op) {
  switch (op) {
    case abi::kCmdGetDevInfo:
      return "GET_DEV_INFO";
    case abi::kCmdAddDev:
      return "ADD_DEV";
    case abi::kCmdDelDev:
      return "DEL_DEV";
    case abi::kCmdDelDevAsync:
      return "DEL_DEV_ASYNC";
    case abi::kCmdStartDev:
      return "START_DEV";
    case abi::kCmdStopDev:
      return "STOP_DEV";
    case abi::kCmdSetParams:
      return "SET_PARAMS";
    case abi::kCmdGetParams:
      return "GET_PARAMS";
    case abi::kCmdStartUserRecovery:
      return "START_USER_RECOVERY";
    case abi::kCmdEndUserRecovery:
      return "END_USER_RECOVERY";
    case abi::kCmdGetFeatures:
      return "GET_FEATURES";
    case abi::kCmdUpdateSize:
      return "UPDATE_SIZE";
    default:
      return "ublk command";
  }
}

class LinuxCtl final : public Control {
 public:
  explicit LinuxCtl(Fd fd) : fd_(std::move(fd)) {}

  std::vector<uint32_t> DeviceIds() override {
    std::vector<uint32_t> out;
    DIR* d = ::opendir("/sys/class/ublk-char");
    if (d == nullptr) return out;
    while (dirent* e = ::readdir(d)) {
      unsigned id = 0;
      char rest = 0;
      if (std::sscanf(e->d_name, "ublkc%u%c", &id, &rest) == 1) out.push_back(id);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<uint64_t> GetFeatures() override {
    uint64_t features = 0;
    auto cmd = MakeCtrlCmd(~0u, &features, sizeof features);
    Status s = Send(abi::kCmdGetFeatures, cmd);
    if (!s.ok()) return s;
    return features;
  }
  Status AddDev(abi::DevInfo* info) override {
    auto cmd = MakeCtrlCmd(info->dev_id, info, sizeof *info);
    return Send(abi::kCmdAddDev, cmd);
  }
  Status SetParams(uint32_t dev_id, const abi::Params& params) override {
    auto cmd = MakeCtrlCmd(dev_id, &params, sizeof params);
    return Send(abi::kCmdSetParams, cmd);
  }
  Status StartDev(uint32_t dev_id, pid_t pid) override {
    auto cmd = MakeCtrlCmd(dev_id);
    cmd.data[0] = static_cast<uint64_t>(pid);
    return Send(abi::kCmdStartDev, cmd);
  }
  Status StopDev(uint32_t dev_id) override { return Send(abi::kCmdStopDev, MakeCtrlCmd(dev_id)); }
  Status TryStopDev(uint32_t dev_id) override { return Send(abi::kCmdTryStopDev, MakeCtrlCmd(dev_id)); }
  Status DelDev(uint32_t dev_id, bool async) override {
    return Send(async ? abi::kCmdDelDevAsync : abi::kCmdDelDev, MakeCtrlCmd(dev_id));
  }
  Result<abi::DevInfo> GetDevInfo(uint32_t dev_id) override {
    abi::DevInfo info{};
    Status s = Send(abi::kCmdGetDevInfo, MakeCtrlCmd(dev_id, &info, sizeof info));
    if (!s.ok()) return s;
    return info;
  }
  Result<abi::Params> GetParams(uint32_t dev_id) override {
    abi::Params p{};
    p.len = sizeof p;
    Status s = Send(abi::kCmdGetParams, MakeCtrlCmd(dev_id, &p, sizeof p));
    if (!s.ok()) return s;
    return p;
  }
  Status UpdateSize(uint32_t dev_id, uint64_t sectors) override {
    abi::CtrlCmd cmd = MakeCtrlCmd(dev_id);
    cmd.data[0] = sectors;
    return Send(abi::kCmdUpdateSize, cmd);
  }
  Status StartUserRecovery(uint32_t dev_id) override { return Send(abi::kCmdStartUserRecovery, MakeCtrlCmd(dev_id)); }
  Status EndUserRecovery(uint32_t dev_id, pid_t pid) override {
    auto cmd = MakeCtrlCmd(dev_id);
    cmd.data[0] = static_cast<uint64_t>(pid);
    return Send(abi::kCmdEndUserRecovery, cmd);
  }

 private:
  // One small ring per command: START_DEV may block for long and must not
  // hold up commands for other devices issued meanwhile from other threads.
  Status Send(uint32_t op, const abi::CtrlCmd& cmd) {
    const std::string what = std::string(CmdName(op)) + " (ublk device " +
                             (cmd.dev_id == ~0u ? std::string("any") : std::to_string(cmd.dev_id)) + ")";
    Ring ring;
    io_uring_params params{};
    params.flags = IORING_SETUP_SQE128;
    WB_RETURN_IF_ERROR(ring.Init(2, &params, what));
    io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
    std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));  // the 128-byte SQE
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = fd_.get();
    sqe->cmd_op = op;
    std::memcpy(sqe->cmd, &cmd, sizeof cmd);
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_submit(ring.get());
    if (rc >= 0) {
      do {
        rc = io_uring_wait_cqe(ring.get(), &cqe);
      } while (rc == -EINTR);
    }
    int res = rc < 0 ? rc : cqe->res;
    if (res < 0) return Status::FromErrno(-res, what);
    return Status::OK();
  }

  Fd fd_;
};

}  // namespace

abi::CtrlCmd MakeCtrlCmd(uint32_t dev_id, const void* buf, uint16_t len) {
  abi::CtrlCmd cmd{};
  cmd.dev_id = dev_id;
  cmd.queue_id = 0xffff;
  cmd.addr = reinterpret_cast<uint64_t>(buf);
  cmd.len = len;
  return cmd;
}

Result<std::unique_ptr<Control>> LinuxControl() {
  Fd fd(::open("/dev/ublk-control", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open /dev/ublk-control", "is the ublk_drv module loaded?");
  return std::unique_ptr<Control>(std::make_unique<LinuxCtl>(std::move(fd)));
}

}  // namespace warmblock::ublk
