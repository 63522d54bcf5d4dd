#include "census.h"

#include <string>
#include <thread>

#include "warmblock/base/proc.h"

namespace warmblock::ublk {

bool ProcessAlive(pid_t pid) {
  auto st = ReadProcStat(pid);
  return st && st->state != 'Z' && st->state != 'X' && st->state != 'x';
}

bool IsAbandoned(const abi::DevInfo& info, pid_t self, const std::function<bool(pid_t)>& alive) {
  if (info.ublksrv_pid == self && self > 0) return false;
  if (info.state == abi::kStateQuiesced || info.state == abi::kStateFailFast) return true;
  return !alive(info.ublksrv_pid);
}

Status StartRecovery(Control& control, uint32_t id, pid_t self, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    Status s = control.StartUserRecovery(id);
    if (s.code() != Status::Code::kBusy) return s;
    auto info = control.GetDevInfo(id);
    if (!info.ok()) return info.status();
    if (info->state == abi::kStateDead)
      return Status::NotFound("it has no disk (never started, or stopped): nothing to adopt");
    if (info->state == abi::kStateLive && info->ublksrv_pid == self)
      return Status::Error(Status::Code::kAlreadyExists, "this process serves it already");
    if (std::chrono::steady_clock::now() >= deadline)
      return s.Annotate(std::string("still ") + (info->state == abi::kStateLive ? "live" : "quiesced") + " after " +
                        std::to_string(wait.count()) + " ms, server pid " + std::to_string(info->ublksrv_pid) +
                        (ProcessAlive(info->ublksrv_pid) ? " running" : " gone, its /dev/ublkc still held"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

DeviceInfo::State StateOfKernel(uint16_t state) {
  switch (state) {
    case abi::kStateLive:
      return DeviceInfo::State::kLive;
    case abi::kStateQuiesced:
      return DeviceInfo::State::kQuiesced;
    case abi::kStateFailFast:
      return DeviceInfo::State::kFailIo;
    default:
      return DeviceInfo::State::kDead;
  }
}

std::vector<std::pair<uint32_t, abi::DevInfo>> OwnedDevices(Control& control, uint64_t mark) {
  std::vector<std::pair<uint32_t, abi::DevInfo>> out;
  for (uint32_t id : control.DeviceIds()) {
    auto info = control.GetDevInfo(id);
    if (info.ok() && info->ublksrv_flags == mark) out.emplace_back(id, *info);
  }
  return out;
}

const char* DeviceStateName(DeviceInfo::State state) {
  switch (state) {
    case DeviceInfo::State::kDead:
      return "dead";
    case DeviceInfo::State::kLive:
      return "live";
    case DeviceInfo::State::kQuiesced:
      return "quiesced";
    case DeviceInfo::State::kFailIo:
      return "fail-io";
  }
  return "?";
}

Result<std::vector<DeviceInfo>> ListOwnedDevices(uint32_t owner) {
  WB_ASSIGN_OR_RETURN(auto control, LinuxControl());
  std::vector<DeviceInfo> out;
  for (const auto& [id, info] : OwnedDevices(*control, abi::WarmblockMark(owner))) {
    DeviceInfo d;
    d.id = id;
    d.state = StateOfKernel(info.state);
    d.server_pid = info.ublksrv_pid;
    out.push_back(d);
  }
  return out;
}

}  // namespace warmblock::ublk
