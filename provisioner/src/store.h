// warmblockd's state in SQLite (WAL, synchronous=FULL: a commit that
// returned survives a power cut). One table of volumes holds every thin the
// daemon owns, whatever its stage; the schema is versioned (PRAGMA
// user_version) and migrated forward on Open.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "warmblock/base/status.h"

struct sqlite3;

namespace warmblock::provisioner {

enum class RowState {
  kCreating,  // intent: the thin may or may not exist yet
  kGolden,    // a class's formatted image; never handed out
  kWarm,      // ready in stock, no name yet
  kReady,     // handed out under its name
  kDeleting,  // intent: the thin may or may not still exist
  kLost,      // its thin vanished from the pool; kept so the owner can see it
};
const char* StateName(RowState s);

struct VolumeRecord {
  int64_t id = 0;    // row id, assigned by Insert
  std::string name;  // empty until handed out
  std::string class_name;
  std::string fs;
  uint64_t size_bytes = 0;
  std::string thin_name;  // unique in the pool
  uint32_t thin_id = 0;
  RowState state = RowState::kCreating;
  std::map<std::string, std::string> labels;
  bool ephemeral = false;
  int64_t created_ms = 0;
  int64_t ublk_id = -1;      // the ublk device serving it (/dev/ublkbN), -1 if none
  int64_t owner_pid = 0;     // ephemeral: released once this process is gone (0: no owner)
  uint64_t owner_start = 0;  // the owner's start time (clock ticks since boot), against pid reuse
};

class Store {
 public:
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens or creates the database at `path` and migrates it. kCorruption for
  // a database newer than this binary or one SQLite cannot read.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  static constexpr int kSchemaVersion = 3;
  int schema_version() const;

  // Sets record->id. kAlreadyExists if the name or thin name is taken.
  Status Insert(VolumeRecord* record);
  // Rewrites the row record.id. kNotFound if it is gone.
  Status Update(const VolumeRecord& record);
  // Writes r over warm row r.id (normally as a named, ready volume), in one
  // statement: kBusy if that row is no longer warm (another request took
  // it), kAlreadyExists if the name is taken.
  Status Claim(const VolumeRecord& r);
  Status Remove(int64_t id);

  Result<VolumeRecord> Get(int64_t id) const;
  // kNotFound if no volume has that name.
  Result<VolumeRecord> FindByName(const std::string& name) const;
  Result<std::vector<VolumeRecord>> List() const;

 private:
  explicit Store(sqlite3* db);
  Status Exec(const std::string& sql);
  sqlite3* db_;
};

}  // namespace warmblock::provisioner
