#include "catalog.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace warmblock::thinpool {
namespace {

constexpr const char* kMagic = "warmblock-thinpool-catalog 1";

const char* KindName(PendingChange::Kind k) {
  switch (k) {
    case PendingChange::Kind::kCreate:
      return "create";
    case PendingChange::Kind::kSnapshot:
      return "snapshot";
    case PendingChange::Kind::kDelete:
      return "delete";
  }
  return "?";
}

void WriteThin(std::ostringstream& out, const Thin& t) {
  out << t.id << ' ' << t.size_bytes << ' ';
  if (t.origin) {
    out << *t.origin;
  } else {
    out << '-';
  }
  out << ' ' << t.name;
}

bool ReadThin(std::istringstream& in, Thin* t) {
  std::string origin;
  if (!(in >> t->id >> t->size_bytes >> origin >> t->name)) return false;
  if (origin != "-") {
    try {
      t->origin = static_cast<uint32_t>(std::stoul(origin));
    } catch (...) {
      return false;
    }
  }
  return true;
}

// Remainder of the line after the key, for values that may contain spaces.
std::string Rest(std::istringstream& in) {
  std::string rest;
  std::getline(in >> std::ws, rest);
  return rest;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc < 0) return Status::FromErrno(err, "fsync " + dir);
  return Status::OK();
}

}  // namespace

std::string SerializeCatalog(const Catalog& c) {
  std::ostringstream out;
  const PoolOptions& o = c.options;
  out << kMagic << '\n';
  out << "name " << o.name << '\n';
  out << "mode " << (c.embedded ? "embedded" : "devices") << '\n';
  out << "data_bytes " << o.data_bytes << '\n';
  out << "metadata_bytes " << o.metadata_bytes << '\n';
  if (!c.embedded) {
    out << "data_device " << o.data_device << '\n';
    out << "metadata_device " << o.metadata_device << '\n';
  }
  out << "block_sectors " << o.block_sectors << '\n';
  out << "low_water_blocks " << o.low_water_blocks << '\n';
  out << "error_if_no_space " << o.error_if_no_space << '\n';
  out << "skip_block_zeroing " << o.skip_block_zeroing << '\n';
  out << "transaction_id " << c.transaction_id << '\n';
  out << "next_id " << c.next_id << '\n';
  for (const auto& [id, thin] : c.thins) {
    out << "thin ";
    WriteThin(out, thin);
    out << '\n';
  }
  if (c.pending) {
    out << "pending " << KindName(c.pending->kind) << ' ';
    WriteThin(out, c.pending->thin);
    out << '\n';
  }
  out << "end\n";
  return out.str();
}

Result<Catalog> ParseCatalog(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  if (!std::getline(lines, line) || line != kMagic) return Status::Corruption("catalogue: unknown format");
  Catalog c;
  PoolOptions& o = c.options;
  bool ended = false;
  int n = 1;
  while (std::getline(lines, line)) {
    ++n;
    std::istringstream in(line);
    std::string key;
    in >> key;
    bool ok = true;
    if (key == "name") {
      ok = static_cast<bool>(in >> o.name);
    } else if (key == "mode") {
      std::string mode;
      in >> mode;
      ok = mode == "embedded" || mode == "devices";
      c.embedded = mode == "embedded";
    } else if (key == "data_bytes") {
      ok = static_cast<bool>(in >> o.data_bytes);
    } else if (key == "metadata_bytes") {
      ok = static_cast<bool>(in >> o.metadata_bytes);
    } else if (key == "data_device") {
      o.data_device = Rest(in);
    } else if (key == "metadata_device") {
      o.metadata_device = Rest(in);
    } else if (key == "block_sectors") {
      ok = static_cast<bool>(in >> o.block_sectors);
    } else if (key == "low_water_blocks") {
      ok = static_cast<bool>(in >> o.low_water_blocks);
    } else if (key == "error_if_no_space") {
      ok = static_cast<bool>(in >> o.error_if_no_space);
    } else if (key == "skip_block_zeroing") {
      ok = static_cast<bool>(in >> o.skip_block_zeroing);
    } else if (key == "transaction_id") {
      ok = static_cast<bool>(in >> c.transaction_id);
    } else if (key == "next_id") {
      ok = static_cast<bool>(in >> c.next_id);
    } else if (key == "thin") {
      Thin t;
      ok = ReadThin(in, &t) && c.thins.emplace(t.id, t).second;
    } else if (key == "pending") {
      std::string kind;
      PendingChange p;
      in >> kind;
      if (kind == "create") {
        p.kind = PendingChange::Kind::kCreate;
      } else if (kind == "snapshot") {
        p.kind = PendingChange::Kind::kSnapshot;
      } else if (kind == "delete") {
        p.kind = PendingChange::Kind::kDelete;
      } else {
        ok = false;
      }
      ok = ok && ReadThin(in, &p.thin);
      c.pending = p;
    } else if (key == "end") {
      ended = true;
      break;
    } else {
      ok = false;
    }
    if (!ok) return Status::Corruption("catalogue line " + std::to_string(n) + ": \"" + line + "\"");
  }
  if (!ended) return Status::Corruption("catalogue is truncated (no end line)");
  return c;
}

std::string CatalogPath(const std::string& dir) { return dir + "/thinpool.catalog"; }

Status WriteCatalog(const std::string& dir, const Catalog& catalog) {
  std::string path = CatalogPath(dir);
  std::string tmp = path + ".tmp";
  std::string data = SerializeCatalog(catalog);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "write catalogue " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "write catalogue " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) < 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "fsync catalogue " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) < 0) return Status::FromErrno(errno, "rename catalogue " + path);
  return SyncDir(dir);
}

Result<Catalog> ReadCatalog(const std::string& dir) {
  std::string path = CatalogPath(dir);
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno ? errno : ENOENT, "read catalogue " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto c = ParseCatalog(buf.str());
  if (!c.ok()) return c.status().Annotate(path);
  return c;
}

}  // namespace warmblock::thinpool
