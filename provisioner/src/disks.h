// The kernel side of warmblockd's volumes: each row's thin in the pool and
// the ublk disk that serves it. What it does is recorded by the caller in
// the store (intent before, result after); Disks itself keeps only which
// disk serves which row.
//
// Thread-safe: hand-outs, refillers, deletes and the monitor reach it from
// their own threads. Its lock guards the map alone and is never held across
// a kernel call; a row's disk is stopped only by whoever owns that row.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "store.h"
#include "warmblock/base/mutex.h"
#include "warmblock/base/status.h"
#include "warmblock/provisioner/provisioner.h"
#include "warmblock/thinpool/pool.h"
#include "warmblock/ublk/ublk.h"

namespace warmblock::provisioner {

class Disks {
 public:
  using LogSink = std::function<void(const std::string&)>;
  // None of them owned; all outlive this.
  Disks(thinpool::Pool* pool, ublk::Server* ublk, Formatter* formatter, LogSink log);
  // The disks stay up (user recovery): a restarted daemon adopts them.
  ~Disks();
  Disks(const Disks&) = delete;
  Disks& operator=(const Disks&) = delete;

  // Makes row r's thin, r->thin_name of r->size_bytes: a snapshot of
  // `origin` given a filesystem identity of its own, or new and formatted
  // with r->fs. A golden image is left inactive (snapshots of an inactive
  // origin need no suspend); anything else gets its disk (Serve). Sets
  // r->thin_id and r->ublk_id. On failure what was made is removed again.
  Status Make(VolumeRecord* r, std::optional<uint32_t> origin, bool golden);

  // How Serve gave a row its disk.
  enum class Served {
    kAlready,     // it has one
    kAdopted,     // the disk a previous process left, r->ublk_id
    kStarted,     // a new disk; r->ublk_id changed: record it
    kNotAdopted,  // adopt_only, and there was none to adopt: r->ublk_id is now -1
  };
  // Activates row r's thin and gives it a disk: adopts the ublk device
  // r->ublk_id that a previous process left if it can, else (unless
  // `adopt_only`) starts a new one.
  Result<Served> Serve(VolumeRecord* r, bool adopt_only);

  // The disk of `row`, or null. Valid while the caller owns the row.
  ublk::Device* Find(int64_t row) const;
  // Stops the disk of `row`, if it has one. Without `force`, kBusy (and
  // nothing changes) while it is mounted or open: a container's disk never
  // goes away under it.
  Status Stop(int64_t row, bool force);
  // Stops row r's disk regardless and deletes its thin, whatever of them
  // exists.
  Status Drop(const VolumeRecord& r);
  // Stops every disk; kBusy at the first one still mounted or open (that
  // one and the rest stay).
  Status StopAll();

 private:
  void Put(int64_t row, std::unique_ptr<ublk::Device> disk);

  thinpool::Pool* const pool_;
  ublk::Server* const ublk_;
  Formatter* const formatter_;
  const LogSink log_;

  mutable Mutex mu_;
  std::map<int64_t, std::unique_ptr<ublk::Device>> by_row_ GUARDED_BY(mu_);
};

}  // namespace warmblock::provisioner
