// Which ublk devices exist and whose they are: the scan of
// /sys/class/ublk-char shared by ListOwnedDevices and
// Server::ListAbandoned.
#pragma once

#include <cstdint>
#include <vector>

#include "control.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::ublk {

// The ids of every ublk device on the host (its /dev/ublkcN exists from
// ADD_DEV to its release after DEL_DEV), sorted.
std::vector<uint32_t> CharDeviceIds();

DeviceInfo::State StateOfKernel(uint16_t state);

// The devices among CharDeviceIds() marked `mark`, asking `control`.
std::vector<std::pair<uint32_t, abi::DevInfo>> OwnedDevices(Control& control, uint64_t mark);

}  // namespace warmblock::ublk
