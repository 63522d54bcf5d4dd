// The ublk kernel ABI (include/uapi/linux/ublk_cmd.h), restated for what
// warmblock uses. Debian 12's linux-libc-dev (6.1) predates much of it
// (USER_COPY, GET_FEATURES, the devt parameters, ioctl-encoded commands), so
// the build does not depend on the installed header. Layouts and values are
// kernel ABI: they never change once released.
#pragma once

#include <sys/ioctl.h>

#include <cstdint>

namespace warmblock::ublk::abi {

struct CtrlCmd {  // struct ublksrv_ctrl_cmd, carried in sqe->cmd
  uint32_t dev_id;
  uint16_t queue_id;  // 0xffff unless the command is for a queue
  uint16_t len;       // size of the buffer at addr
  uint64_t addr;
  uint64_t data[1];
  uint16_t dev_path_len;
  uint16_t pad;
  uint32_t reserved;
};
static_assert(sizeof(CtrlCmd) == 32);

struct DevInfo {  // struct ublksrv_ctrl_dev_info
  uint16_t nr_hw_queues;
  uint16_t queue_depth;
  uint16_t state;
  uint16_t pad0;
  uint32_t max_io_buf_bytes;
  uint32_t dev_id;
  int32_t ublksrv_pid;
  uint32_t pad1;
  uint64_t flags;
  uint64_t ublksrv_flags;
  uint32_t owner_uid;
  uint32_t owner_gid;
  uint64_t reserved1;
  uint64_t reserved2;
};
static_assert(sizeof(DevInfo) == 64);

struct IoDesc {       // struct ublksrv_io_desc, in the mmapped per-queue array
  uint32_t op_flags;  // op in bits 0-7, flags above
  uint32_t nr_sectors;
  uint64_t start_sector;
  uint64_t addr;
};
static_assert(sizeof(IoDesc) == 24);

struct IoCmd {  // struct ublksrv_io_cmd, carried in sqe->cmd
  uint16_t q_id;
  uint16_t tag;
  int32_t result;
  uint64_t addr;
};
static_assert(sizeof(IoCmd) == 16);

struct ParamBasic {
  uint32_t attrs;
  uint8_t logical_bs_shift;
  uint8_t physical_bs_shift;
  uint8_t io_opt_shift;
  uint8_t io_min_shift;
  uint32_t max_sectors;
  uint32_t chunk_sectors;
  uint64_t dev_sectors;
  uint64_t virt_boundary_mask;
};
struct ParamDiscard {
  uint32_t discard_alignment;
  uint32_t discard_granularity;
  uint32_t max_discard_sectors;
  uint32_t max_write_zeroes_sectors;
  uint16_t max_discard_segments;
  uint16_t reserved0;
};
struct ParamDevt {
  uint32_t char_major;
  uint32_t char_minor;
  uint32_t disk_major;
  uint32_t disk_minor;
};
struct Params {  // the prefix of struct ublk_params that warmblock sends
  uint32_t len;
  uint32_t types;
  ParamBasic basic;
  ParamDiscard discard;
  ParamDevt devt;
};

inline constexpr uint32_t kParamBasic = 1u << 0;
inline constexpr uint32_t kParamDiscard = 1u << 1;
inline constexpr uint32_t kParamDevt = 1u << 2;
inline constexpr uint32_t kAttrVolatileCache = 1u << 2;
inline constexpr uint32_t kAttrFua = 1u << 3;

// Control commands (ioctl encoding, valid since Linux 6.0's later releases).
inline constexpr uint32_t kCmdGetDevInfo = _IOR('u', 0x02, CtrlCmd);
inline constexpr uint32_t kCmdAddDev = _IOWR('u', 0x04, CtrlCmd);
inline constexpr uint32_t kCmdDelDev = _IOWR('u', 0x05, CtrlCmd);
inline constexpr uint32_t kCmdStartDev = _IOWR('u', 0x06, CtrlCmd);
inline constexpr uint32_t kCmdStopDev = _IOWR('u', 0x07, CtrlCmd);
inline constexpr uint32_t kCmdSetParams = _IOWR('u', 0x08, CtrlCmd);
inline constexpr uint32_t kCmdGetParams = _IOR('u', 0x09, CtrlCmd);
inline constexpr uint32_t kCmdStartUserRecovery = _IOWR('u', 0x10, CtrlCmd);
inline constexpr uint32_t kCmdEndUserRecovery = _IOWR('u', 0x11, CtrlCmd);
inline constexpr uint32_t kCmdGetFeatures = _IOR('u', 0x13, CtrlCmd);
inline constexpr uint32_t kCmdDelDevAsync = _IOR('u', 0x14, CtrlCmd);
inline constexpr uint32_t kCmdUpdateSize = _IOWR('u', 0x15, CtrlCmd);  // data[0]: new size in sectors
inline constexpr uint32_t kCmdTryStopDev = _IOWR('u', 0x17, CtrlCmd);

// I/O commands on /dev/ublkcN.
inline constexpr uint32_t kIoFetchReq = _IOWR('u', 0x20, IoCmd);
inline constexpr uint32_t kIoCommitAndFetchReq = _IOWR('u', 0x21, IoCmd);
inline constexpr uint32_t kIoNeedGetData = _IOWR('u', 0x22, IoCmd);
inline constexpr int kIoResOk = 0;
inline constexpr int kIoResNeedGetData = 1;  // a write's data waits for NEED_GET_DATA
// A fetch completing with -ENODEV: the queue is going away, do not refetch.

// Feature flags (GET_FEATURES / ADD_DEV flags).
inline constexpr uint64_t kFZeroCopy = 1ull << 0;
inline constexpr uint64_t kFNeedGetData = 1ull << 2;
inline constexpr uint64_t kFUserRecovery = 1ull << 3;
inline constexpr uint64_t kFUserRecoveryReissue = 1ull << 4;
inline constexpr uint64_t kFCmdIoctlEncode = 1ull << 6;
inline constexpr uint64_t kFUserCopy = 1ull << 7;
inline constexpr uint64_t kFUserRecoveryFailIo = 1ull << 9;
inline constexpr uint64_t kFUpdateSize = 1ull << 10;
inline constexpr uint64_t kFAutoBufReg = 1ull << 11;
inline constexpr uint64_t kFQuiesce = 1ull << 12;
inline constexpr uint64_t kFPerIoDaemon = 1ull << 13;
inline constexpr uint64_t kFSafeStopDev = 1ull << 17;
inline constexpr uint64_t kFNoAutoPartScan = 1ull << 18;

// Size of the registered-buffer table a ring can have (IORING_MAX_REG_BUFFERS).
inline constexpr unsigned kMaxRingBuffers = 1u << 14;

// sqe->addr of FETCH / COMMIT_AND_FETCH under AUTO_BUF_REG (struct
// ublk_auto_buf_reg): the ring's buffer-table index the driver registers the
// next request's pages at; flags and reserved bits zero.
inline uint64_t AutoBufRegAddr(uint16_t index) { return index; }

// DevInfo::state.
inline constexpr uint16_t kStateDead = 0;
inline constexpr uint16_t kStateLive = 1;
inline constexpr uint16_t kStateQuiesced = 2;  // waiting for a new server (user recovery)
inline constexpr uint16_t kStateFailFast = 3;

// DevInfo::ublksrv_flags is the server's own: the kernel keeps and returns
// it. warmblock marks its devices with "wblk" and an owner tag so that it
// never touches another program's (or another daemon's) ublk devices.
inline uint64_t WarmblockMark(uint32_t owner) { return (uint64_t{0x77626c6b} << 32) | owner; }

// Request ops and flags in IoDesc::op_flags.
inline constexpr uint8_t kOpRead = 0;
inline constexpr uint8_t kOpWrite = 1;
inline constexpr uint8_t kOpFlush = 2;
inline constexpr uint8_t kOpDiscard = 3;
inline constexpr uint8_t kOpWriteZeroes = 5;
inline constexpr uint32_t kIoFFua = 1u << 13;

// Layout of /dev/ublkcN.
inline constexpr uint16_t kMaxQueueDepth = 4096;
inline constexpr uint32_t kMaxIoBufBytes = 32u << 20;
inline constexpr uint64_t kIoBufOffset = 0x80000000ull;  // USER_COPY data window
inline constexpr int kTagShift = 25;
inline constexpr int kQidShift = 41;

// Offset in /dev/ublkcN of the descriptor array of queue `q`.
inline uint64_t DescOffset(uint16_t q) { return uint64_t{q} * kMaxQueueDepth * sizeof(IoDesc); }
// Offset in /dev/ublkcN of the data of request (q, tag) under USER_COPY.
inline uint64_t UserCopyOffset(uint16_t q, uint16_t tag) {
  return kIoBufOffset + (uint64_t{q} << kQidShift) + (uint64_t{tag} << kTagShift);
}

}  // namespace warmblock::ublk::abi
