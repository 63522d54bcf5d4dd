// The typed client of warmblockd's API: the model's structs in and out
// (model.h), errors as Status with the daemon's message and a code mapped
// from its answer (wire.h), so the CLI, the OCI hook and the benchmarks share
// one reading of the daemon. Nothing here throws; a reply that does not
// parse is a failed Result that says what was wrong with it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "warmblock/base/status.h"
#include "warmblock/provisioner/model.h"

namespace warmblock::client {

using provisioner::CreateRequest;
using provisioner::DaemonReport;
using provisioner::PoolReport;
using provisioner::Volume;

class Client {
 public:
  // `timeout_s` bounds each whole exchange.
  explicit Client(std::string socket, long timeout_s = 300) : socket_(std::move(socket)), timeout_s_(timeout_s) {}

  // The volume, with source kExisting when the name existed with this spec.
  Result<Volume> Create(const CreateRequest& request) const;
  Result<Volume> Get(const std::string& name) const;
  // Volumes carrying every label in `labels`.
  Result<std::vector<Volume>> List(const std::map<std::string, std::string>& labels = {}) const;
  // kNotFound for an unknown name, kBusy while the disk is mounted or open.
  Status Delete(const std::string& name) const;
  Result<PoolReport> Pool() const;
  Result<DaemonReport> Daemon() const;

 private:
  std::string socket_;
  long timeout_s_;
};

}  // namespace warmblock::client
