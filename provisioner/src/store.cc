#include "store.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "warmblock/base/text.h"

namespace warmblock::provisioner {
namespace {

// Schema migrations, applied in order; entry i takes the database from
// version i to i + 1. Never edit a released entry: append.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE volumes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE,
  class TEXT NOT NULL,
  fs TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  thin_name TEXT NOT NULL UNIQUE,
  thin_id INTEGER NOT NULL,
  state TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  ephemeral INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  pool_txid INTEGER NOT NULL DEFAULT 0,
  ublk_id INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX volumes_state ON volumes(state);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
    // An ephemeral volume's owner: the process whose exit releases it, with
    // its start time so that a reused pid is not mistaken for it.
    R"sql(
ALTER TABLE volumes ADD COLUMN owner_pid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE volumes ADD COLUMN owner_start INTEGER NOT NULL DEFAULT 0;
)sql",
    // The pool's transaction id per row and in meta was written and never
    // read: repair reconciles rows with thins by name, which a transaction
    // id could not improve on.
    R"sql(
ALTER TABLE volumes DROP COLUMN pool_txid;
DELETE FROM meta WHERE key = 'pool_txid';
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == Store::kSchemaVersion);

const char* const kStateNames[] = {"creating", "golden", "warm", "ready", "deleting", "lost"};

Result<RowState> ParseState(const std::string& s) {
  for (int i = 0; i < 6; ++i)
    if (s == kStateNames[i]) return static_cast<RowState>(i);
  return Status::Corruption("unknown volume state " + Quoted(s) + " in the database");
}

Status SqlError(sqlite3* db, int rc, const std::string& what) {
  Status::Code code = Status::Code::kIOError;
  if (rc == SQLITE_CONSTRAINT) code = Status::Code::kAlreadyExists;
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) code = Status::Code::kCorruption;
  if (rc == SQLITE_FULL) code = Status::Code::kNoSpace;
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) code = Status::Code::kBusy;
  return Status::Error(code, what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& BindNullIfEmpty(int i, const std::string& v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_, i);
      return *this;
    }
    return Bind(i, v);
  }
  // true for a row, false when done.
  Result<bool> Step(const std::string& what) {
    if (rc_ != SQLITE_OK) return SqlError(db_, rc_, what);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqlError(db_, rc, what);
  }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t == nullptr ? "" : reinterpret_cast<const char*>(t);
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

constexpr const char* kColumns =
    "id, name, class, fs, size_bytes, thin_name, thin_id, state, labels, ephemeral, created_ms, ublk_id, owner_pid, "
    "owner_start";

Result<VolumeRecord> ReadRow(const Stmt& s) {
  VolumeRecord r;
  r.id = s.Int(0);
  r.name = s.Text(1);
  r.class_name = s.Text(2);
  r.fs = s.Text(3);
  r.size_bytes = static_cast<uint64_t>(s.Int(4));
  r.thin_name = s.Text(5);
  r.thin_id = static_cast<uint32_t>(s.Int(6));
  WB_ASSIGN_OR_RETURN(r.state, ParseState(s.Text(7)));
  auto labels = nlohmann::json::parse(s.Text(8), nullptr, /*allow_exceptions=*/false);
  if (!labels.is_object()) return Status::Corruption("labels of volume row " + std::to_string(r.id) + " are not JSON");
  for (auto& [k, v] : labels.items())
    if (v.is_string()) r.labels[k] = v.get<std::string>();
  r.ephemeral = s.Int(9) != 0;
  r.created_ms = s.Int(10);
  r.ublk_id = s.Int(11);
  r.owner_pid = s.Int(12);
  r.owner_start = static_cast<uint64_t>(s.Int(13));
  return r;
}

std::string LabelsJson(const std::map<std::string, std::string>& labels) { return nlohmann::json(labels).dump(); }

}  // namespace

const char* StateName(RowState s) { return kStateNames[static_cast<int>(s)]; }

Store::Store(sqlite3* db) : db_(db) {}
Store::~Store() { sqlite3_close_v2(db_); }

Status Store::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::OK();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return SqlError(nullptr, rc, "sqlite: " + msg);
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<Store> store(new Store(db));  // closes db on every return below
  if (rc != SQLITE_OK) return SqlError(db, rc, "open database " + path);
  sqlite3_busy_timeout(db, 5000);
  const std::string what = "database " + path;
  // WAL with FULL sync: every committed transaction is on disk when the
  // commit returns, so a volume acknowledged to a client survives a power
  // cut.
  WB_RETURN_IF_ERROR(
      store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;").Annotate(what));
  int version = store->schema_version();
  if (version > kSchemaVersion)
    return Status::Corruption(what + " has schema version " + std::to_string(version) + "; this warmblockd knows " +
                              std::to_string(kSchemaVersion) + " (downgrade?)");
  for (int v = version; v < kSchemaVersion; ++v) {
    WB_RETURN_IF_ERROR(store->Exec("BEGIN IMMEDIATE").Annotate(what));
    Status s = store->Exec(kMigrations[v]);
    if (s.ok()) s = store->Exec("PRAGMA user_version=" + std::to_string(v + 1));
    if (s.ok()) s = store->Exec("COMMIT");
    if (!s.ok()) {
      (void)store->Exec("ROLLBACK");
      return s.Annotate(what + ": migrate to schema " + std::to_string(v + 1));
    }
  }
  return store;
}

int Store::schema_version() const {
  Stmt s(db_, "PRAGMA user_version");
  auto row = s.Step("schema version");
  return row.ok() && *row ? static_cast<int>(s.Int(0)) : -1;
}

Status Store::Insert(VolumeRecord* r) {
  Stmt s(db_,
         "INSERT INTO volumes (name, class, fs, size_bytes, thin_name, thin_id, state, labels, ephemeral, created_ms, "
         "ublk_id, owner_pid, owner_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
         "RETURNING id");
  s.BindNullIfEmpty(1, r->name)
      .Bind(2, r->class_name)
      .Bind(3, r->fs)
      .Bind(4, static_cast<int64_t>(r->size_bytes))
      .Bind(5, r->thin_name)
      .Bind(6, static_cast<int64_t>(r->thin_id))
      .Bind(7, std::string(StateName(r->state)))
      .Bind(8, LabelsJson(r->labels))
      .Bind(9, int64_t{r->ephemeral})
      .Bind(10, r->created_ms)
      .Bind(11, r->ublk_id)
      .Bind(12, r->owner_pid)
      .Bind(13, static_cast<int64_t>(r->owner_start));
  // The id comes back with the row: sqlite3_last_insert_rowid would be
  // another thread's when two insert at once on this connection.
  const std::string what = "insert volume " + (r->name.empty() ? r->thin_name : r->name);
  WB_ASSIGN_OR_RETURN(bool row, s.Step(what));
  if (!row) return Status::Error(Status::Code::kIOError, what + ": no id returned");
  r->id = s.Int(0);
  return s.Step(what).status();
}

namespace {

// Writes every column of r over row r.id, if `only_if_warm` only while that
// row is still warm. Returns whether a row changed.
Result<bool> WriteRow(sqlite3* db, const VolumeRecord& r, bool only_if_warm) {
  std::string sql =
      "UPDATE volumes SET name=?1, class=?2, fs=?3, size_bytes=?4, thin_name=?5, thin_id=?6, state=?7, labels=?8, "
      "ephemeral=?9, created_ms=?10, ublk_id=?11, owner_pid=?12, owner_start=?13 WHERE id=?14";
  if (only_if_warm) sql += " AND state='warm'";
  Stmt s(db, sql.c_str());
  s.BindNullIfEmpty(1, r.name)
      .Bind(2, r.class_name)
      .Bind(3, r.fs)
      .Bind(4, static_cast<int64_t>(r.size_bytes))
      .Bind(5, r.thin_name)
      .Bind(6, static_cast<int64_t>(r.thin_id))
      .Bind(7, std::string(StateName(r.state)))
      .Bind(8, LabelsJson(r.labels))
      .Bind(9, int64_t{r.ephemeral})
      .Bind(10, r.created_ms)
      .Bind(11, r.ublk_id)
      .Bind(12, r.owner_pid)
      .Bind(13, static_cast<int64_t>(r.owner_start))
      .Bind(14, r.id);
  WB_RETURN_IF_ERROR(s.Step("update volume row " + std::to_string(r.id)).status());
  return sqlite3_changes(db) != 0;
}

}  // namespace

Status Store::Update(const VolumeRecord& r) {
  WB_ASSIGN_OR_RETURN(bool changed, WriteRow(db_, r, false));
  if (!changed) return Status::NotFound("volume row " + std::to_string(r.id) + " is gone");
  return Status::OK();
}

Status Store::Claim(const VolumeRecord& r) {
  WB_ASSIGN_OR_RETURN(bool changed, WriteRow(db_, r, true));
  if (!changed) return Status::Error(Status::Code::kBusy, "warm volume already claimed");
  return Status::OK();
}

Status Store::Remove(int64_t id) {
  Stmt s(db_, "DELETE FROM volumes WHERE id=?1");
  s.Bind(1, id);
  return s.Step("delete volume row " + std::to_string(id)).status();
}

Result<VolumeRecord> Store::Get(int64_t id) const {
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM volumes WHERE id=?1").c_str());
  s.Bind(1, id);
  WB_ASSIGN_OR_RETURN(bool row, s.Step("read volume row"));
  if (!row) return Status::NotFound("volume row " + std::to_string(id));
  return ReadRow(s);
}

Result<VolumeRecord> Store::FindByName(const std::string& name) const {
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM volumes WHERE name=?1").c_str());
  s.Bind(1, name);
  WB_ASSIGN_OR_RETURN(bool row, s.Step("read volume " + name));
  if (!row) return Status::NotFound("no volume named " + Quoted(name));
  return ReadRow(s);
}

Result<std::vector<VolumeRecord>> Store::List() const {
  std::vector<VolumeRecord> out;
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM volumes ORDER BY id").c_str());
  for (;;) {
    WB_ASSIGN_OR_RETURN(bool row, s.Step("list volumes"));
    if (!row) return out;
    WB_ASSIGN_OR_RETURN(VolumeRecord r, ReadRow(s));
    out.push_back(std::move(r));
  }
}

}  // namespace warmblock::provisioner
