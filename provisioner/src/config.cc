#include "warmblock/provisioner/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "warmblock/base/text.h"
#include "warmblock/base/units.h"

namespace warmblock::provisioner {
namespace {

bool ValidClassName(const std::string& n) {
  if (n.empty() || n.size() > 32) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '-');
    if (!ok) return false;
  }
  return true;
}

// Reads the keys of one TOML table into a config, rejecting what it does
// not know. Errors carry "origin:line: key".
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  Status Where(const toml::node& node, const std::string& key, const std::string& why) const {
    return Status::InvalidArgument(origin_ + ":" + std::to_string(node.source().begin.line) + ": " + key + ": " + why);
  }

  Status String(const toml::node& node, const std::string& key, std::string* out) const {
    auto v = node.value<std::string>();
    if (!v) return Where(node, key, "must be a string");
    *out = *v;
    return Status::OK();
  }

  Status Unsigned(const toml::node& node, const std::string& key, unsigned max, unsigned* out) const {
    auto v = node.value<int64_t>();
    if (!v || *v < 0 || *v > max) return Where(node, key, "must be an integer from 0 to " + std::to_string(max));
    *out = static_cast<unsigned>(*v);
    return Status::OK();
  }

  // A size as "1G" or as a plain integer of bytes.
  Status Size(const toml::node& node, const std::string& key, uint64_t* out) const {
    if (auto i = node.value<int64_t>(); i && node.is_integer()) {
      if (*i < 0) return Where(node, key, "must not be negative");
      *out = static_cast<uint64_t>(*i);
      return Status::OK();
    }
    auto s = node.value<std::string>();
    if (!s) return Where(node, key, "must be a size such as \"1G\" or a number of bytes");
    auto r = ParseSize(*s, key);
    if (!r.ok()) return Where(node, key, r.status().message());
    *out = *r;
    return Status::OK();
  }

  Status Top(const toml::table& t, Config* c) const {
    for (auto&& [k, v] : t) {
      std::string key(k.str());
      if (key == "state_dir") {
        WB_RETURN_IF_ERROR(String(v, key, &c->state_dir));
      } else if (key == "socket") {
        WB_RETURN_IF_ERROR(String(v, key, &c->socket));
      } else if (key == "socket_group") {
        WB_RETURN_IF_ERROR(String(v, key, &c->socket_group));
      } else if (key == "orphan_grace_s") {
        WB_RETURN_IF_ERROR(Unsigned(v, key, 3600, &c->orphan_grace_s));
      } else if (key == "held_io_timeout_s") {
        WB_RETURN_IF_ERROR(Unsigned(v, key, 86400, &c->held_io_timeout_s));
      } else if (key == "reactors") {
        WB_RETURN_IF_ERROR(Unsigned(v, key, 256, &c->reactors));
      } else if (key == "pool" && v.is_table()) {
        WB_RETURN_IF_ERROR(Pool(*v.as_table(), c));
      } else if (key == "warm" && v.is_table()) {
        WB_RETURN_IF_ERROR(Warm(*v.as_table(), c));
      } else if (key == "class" && v.is_array_of_tables()) {
        c->classes.clear();
        for (auto&& e : *v.as_array()) WB_RETURN_IF_ERROR(Class(*e.as_table(), c));
      } else {
        return Where(v, key, "unknown key (or wrong kind of value)");
      }
    }
    return Status::OK();
  }

  Status Pool(const toml::table& t, Config* c) const {
    for (auto&& [k, v] : t) {
      std::string key = "pool." + std::string(k.str());
      if (key == "pool.data_size") {
        WB_RETURN_IF_ERROR(Size(v, key, &c->pool_data_bytes));
      } else if (key == "pool.metadata_size") {
        WB_RETURN_IF_ERROR(Size(v, key, &c->pool_metadata_bytes));
      } else if (key == "pool.max_data_size") {
        WB_RETURN_IF_ERROR(Size(v, key, &c->pool_max_data_bytes));
      } else if (key == "pool.grow_step") {
        WB_RETURN_IF_ERROR(Size(v, key, &c->pool_grow_step_bytes));
      } else if (key == "pool.block_size") {
        WB_RETURN_IF_ERROR(Size(v, key, &c->pool_block_bytes));
      } else if (key == "pool.data_device") {
        WB_RETURN_IF_ERROR(String(v, key, &c->pool_data_device));
      } else if (key == "pool.metadata_device") {
        WB_RETURN_IF_ERROR(String(v, key, &c->pool_metadata_device));
      } else {
        return Where(v, key, "unknown key");
      }
    }
    return Status::OK();
  }

  Status Warm(const toml::table& t, Config* c) const {
    for (auto&& [k, v] : t) {
      std::string key = "warm." + std::string(k.str());
      if (key == "warm.refill_concurrency") {
        WB_RETURN_IF_ERROR(Unsigned(v, key, 64, &c->refill_concurrency));
      } else {
        return Where(v, key, "unknown key");
      }
    }
    return Status::OK();
  }

  Status Class(const toml::table& t, Config* c) const {
    VolumeClass vc;
    for (auto&& [k, v] : t) {
      std::string key = "class." + std::string(k.str());
      if (key == "class.name") {
        WB_RETURN_IF_ERROR(String(v, key, &vc.name));
      } else if (key == "class.fs") {
        WB_RETURN_IF_ERROR(String(v, key, &vc.fs));
      } else if (key == "class.size") {
        WB_RETURN_IF_ERROR(Size(v, key, &vc.size_bytes));
      } else if (key == "class.warm") {
        WB_RETURN_IF_ERROR(Unsigned(v, key, 4096, &vc.warm));
      } else {
        return Where(v, key, "unknown key");
      }
    }
    c->classes.push_back(vc);
    return Status::OK();
  }

 private:
  std::string origin_;
};

}  // namespace

bool IsSupportedFs(const std::string& fs) { return fs == "ext4" || fs == "xfs"; }

uint64_t Config::MaxPoolDataBytes() const { return pool_max_data_bytes != 0 ? pool_max_data_bytes : pool_data_bytes; }

const VolumeClass* Config::FindClass(const std::string& fs, uint64_t size_bytes) const {
  for (const auto& c : classes)
    if (c.fs == fs && c.size_bytes == size_bytes) return &c;
  return nullptr;
}

const VolumeClass* Config::FindClass(const std::string& name) const {
  for (const auto& c : classes)
    if (c.name == name) return &c;
  return nullptr;
}

Status ValidateConfig(const Config& c) {
  auto bad = [](const std::string& key, const std::string& why) { return Status::InvalidArgument(key + ": " + why); };
  if (c.state_dir.empty() || c.state_dir[0] != '/') return bad("state_dir", "must be an absolute path");
  if (c.socket.empty() || c.socket[0] != '/') return bad("socket", "must be an absolute path");
  if (c.socket.size() >= 108) return bad("socket", "longer than a Unix socket path may be (107)");
  if (c.pool_block_bytes < (64 << 10) || c.pool_block_bytes % (64 << 10) != 0 || c.pool_block_bytes > (1ull << 30))
    return bad("pool.block_size", "must be a multiple of 64K between 64K and 1G");
  if (c.pool_data_device.empty() != c.pool_metadata_device.empty())
    return bad("pool.data_device", "data_device and metadata_device go together");
  if (c.pool_data_device.empty() && c.pool_data_bytes < (64ull << 20))
    return bad("pool.data_size", "must be at least 64M");
  if (!c.pool_data_device.empty() && (c.pool_max_data_bytes != 0 || c.pool_grow_step_bytes != 0))
    return bad("pool.max_data_size", "only an embedded pool grows itself; extend data_device instead");
  if (c.pool_max_data_bytes != 0 && c.pool_max_data_bytes < c.pool_data_bytes)
    return bad("pool.max_data_size", "must be at least data_size (" + FormatSize(c.pool_data_bytes) + "), or 0");
  if (c.pool_max_data_bytes > (1ull << 50)) return bad("pool.max_data_size", "must be at most 1P");
  if (c.pool_grow_step_bytes != 0 && c.pool_grow_step_bytes < (64ull << 20))
    return bad("pool.grow_step", "must be at least 64M, or 0 (= data_size)");
  if (c.refill_concurrency == 0) return bad("warm.refill_concurrency", "must be at least 1");
  std::set<std::string> names;
  for (const auto& vc : c.classes) {
    std::string key = "class " + Quoted(vc.name);
    if (!ValidClassName(vc.name)) return bad(key, "name must be 1-32 of a-z, 0-9 and '-', not starting with '-'");
    if (!names.insert(vc.name).second) return bad(key, "defined twice");
    if (!IsSupportedFs(vc.fs)) return bad(key, "fs must be ext4 or xfs, not " + Quoted(vc.fs));
    uint64_t min = vc.fs == "xfs" ? (300ull << 20) : (16ull << 20);
    if (vc.size_bytes < min || vc.size_bytes % (1 << 20) != 0)
      return bad(key, "size must be a whole number of MiB, at least " + FormatSize(min) + " for " + vc.fs);
  }
  return Status::OK();
}

Result<Config> ParseConfig(const std::string& text, const std::string& origin) {
  Config c;
  try {
    toml::table t = toml::parse(text, origin);
    WB_RETURN_IF_ERROR(Reader(origin).Top(t, &c));
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(origin + ":" + std::to_string(e.source().begin.line) + ": " +
                                   std::string(e.description()));
  }
  Status s = ValidateConfig(c);
  if (!s.ok()) return s.Annotate(origin);
  return c;
}

Result<Config> LoadConfig(const std::string& path, bool missing_ok) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT && missing_ok) return Config{};
    return Status::FromErrno(errno, "read configuration " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace warmblock::provisioner
