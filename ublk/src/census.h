// Which ublk devices exist and whose they are, shared by ListOwnedDevices
// and Server::ListAbandoned.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "control.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

DeviceInfo::State StateOfKernel(uint16_t state);

// The devices among control.DeviceIds() marked `mark`, asking `control`.
std::vector<std::pair<uint32_t, abi::DevInfo>> OwnedDevices(Control& control, uint64_t mark);

// Whether process `pid` runs: false for pid <= 0 (GET_DEV_INFO reports -1
// once a device's recorded server is gone), for no such process, and for a
// zombie or dead one (its files are closed or closing; it serves nothing).
bool ProcessAlive(pid_t pid);

// Whether device `info` has no server left, so that a new process may
// delete it: quiesced or failing I/O (its server died with recovery on),
// or live or never started (dead state) with its recorded server not alive
// by `alive`. Never a device of `self`. (A live device whose server has
// just died stays live until the kernel has released that server's
// /dev/ublkcN, which may take a while after the process is gone.)
bool IsAbandoned(const abi::DevInfo& info, pid_t self, const std::function<bool(pid_t)>& alive = ProcessAlive);

// START_USER_RECOVERY of device `id` for process `self`. The kernel answers
// EBUSY (drivers/block/ublk_drv.c, ublk_ctrl_start_recovery) while the old
// server's /dev/ublkcN is still open (UB_STATE_OPEN: ublk_ch_release's exit
// work clears it, and quiesces the device, once the dead process's io_uring
// has let go of its commands and buffers) and for as long as the device is
// neither quiesced nor failing I/O. A device in the dead state (added and
// never started, or stopped and not deleted) never is, so it is refused at
// once (kNotFound: nothing to adopt), as is one `self` serves
// (kAlreadyExists); otherwise EBUSY is retried for up to `wait` (then kBusy,
// saying whether the old server still runs). Other errors as the kernel's.
Status StartRecovery(Control& control, uint32_t id, pid_t self, std::chrono::milliseconds wait);

}  // namespace warmblock::ublk
