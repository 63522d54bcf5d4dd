// The ublk control plane: commands to /dev/ublk-control and the list of
// devices that exist. The Linux implementation (control_linux.cc) sends
// each command as an io_uring URING_CMD (128-byte SQE); the Server's unit
// tests run over FakeControl (ublk/testing/fake_control.h), given to
// StartServer (server.h). Every method is synchronous and thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "uapi.h"
#include "warmblock/base/status.h"

namespace warmblock::ublk {

class Control {
 public:
  virtual ~Control() = default;
  // The ids of every ublk device on the host (its /dev/ublkcN exists from
  // ADD_DEV to its release after DEL_DEV), sorted.
  virtual std::vector<uint32_t> DeviceIds() = 0;
  // kUnsupported on kernels before 6.5 (no GET_FEATURES).
  virtual Result<uint64_t> GetFeatures() = 0;
  // Creates /dev/ublkcN; `info` carries the request (dev_id ~0u = any) and
  // returns what the kernel assigned.
  virtual Status AddDev(abi::DevInfo* info) = 0;
  virtual Status SetParams(uint32_t dev_id, const abi::Params& params) = 0;
  // Creates /dev/ublkbN. Blocks until every tag of every queue is fetched:
  // never call it from a thread that fetches.
  virtual Status StartDev(uint32_t dev_id, pid_t server_pid) = 0;
  virtual Status StopDev(uint32_t dev_id) = 0;
  // Stops only if nothing has /dev/ublkbN open (kBusy otherwise); needs
  // UBLK_F_SAFE_STOP_DEV.
  virtual Status TryStopDev(uint32_t dev_id) = 0;
  // Waits until /dev/ublkcN is closed and unmapped unless `async`.
  virtual Status DelDev(uint32_t dev_id, bool async) = 0;
  virtual Result<abi::DevInfo> GetDevInfo(uint32_t dev_id) = 0;
  virtual Result<abi::Params> GetParams(uint32_t dev_id) = 0;
  // Changes the size of a live disk (UBLK_F_UPDATE_SIZE, Linux >= 6.16).
  virtual Status UpdateSize(uint32_t dev_id, uint64_t sectors) = 0;
  virtual Status StartUserRecovery(uint32_t dev_id) = 0;
  virtual Status EndUserRecovery(uint32_t dev_id, pid_t server_pid) = 0;
};

// kNotFound if /dev/ublk-control is missing (module not loaded).
Result<std::unique_ptr<Control>> LinuxControl();

// The command block for `dev_id`, pointing at `buf` of `len` bytes.
abi::CtrlCmd MakeCtrlCmd(uint32_t dev_id, const void* buf = nullptr, uint16_t len = 0);

}  // namespace warmblock::ublk
