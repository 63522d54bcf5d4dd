#include "service.h"

#include <filesystem>

#include "growth.h"
#include "warmblock/base/proc.h"
#include "warmblock/base/text.h"

namespace warmblock::provisioner {
namespace {

// The start time of `pid` (which changes when the pid is reused).
std::optional<uint64_t> ProcStartTime(int64_t pid) {
  auto st = ReadProcStat(pid);
  if (!st) return std::nullopt;
  return st->start_time;
}

}  // namespace

Service::Service(Config config, Services services)
    : cfg_(std::move(config)), svc_(std::move(services)), orphans_(std::chrono::seconds(cfg_.orphan_grace_s)) {
  if (!svc_.process_start) svc_.process_start = ProcStartTime;
}

Service::~Service() { StopThreads(); }

Status Service::Init() {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.state_dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create state directory " + cfg_.state_dir);
  WB_ASSIGN_OR_RETURN(store_, Store::Open(cfg_.state_dir + "/warmblock.db"));
  WB_RETURN_IF_ERROR(OpenPool());
  disks_ = std::make_unique<Disks>(pool_.get(), svc_.ublk, svc_.formatter, svc_.log);
  stock_ = std::make_unique<Stock>(cfg_.classes, store_.get(), disks_.get(), svc_.log);
  WB_RETURN_IF_ERROR(Repair());
  WB_RETURN_IF_ERROR(stock_->MakeGoldenImages());
  RefreshPoolState();
  stock_->Start(cfg_.refill_concurrency);
  monitor_ = std::thread([this] { MonitorLoop(); });
  return Status::OK();
}

Status Service::Shutdown() {
  StopThreads();
  WB_RETURN_IF_ERROR(disks_->StopAll());
  WB_RETURN_IF_ERROR(pool_->Shutdown());
  Log("shut down: every disk stopped, pool devices removed; state kept in " + cfg_.state_dir);
  return Status::OK();
}

void Service::StopThreads() {
  if (stock_) stock_->Stop();
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  if (monitor_.joinable()) monitor_.join();
}

Result<Volume> Service::Get(const std::string& name) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(VolumeRecord r, store_->FindByName(name));
  if (r.state != RowState::kReady && r.state != RowState::kLost)
    return Status::NotFound("volume " + Quoted(name) + " is being " + StateName(r.state));
  return ToVolume(r, Source::kExisting);
}

Result<std::vector<Volume>> Service::List(const std::map<std::string, std::string>& labels) {
  MutexLock lock(mu_);
  WB_ASSIGN_OR_RETURN(auto rows, store_->List());
  std::vector<Volume> out;
  for (const auto& r : rows) {
    if (r.state != RowState::kReady && r.state != RowState::kLost) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = r.labels.find(k);
      if (it == r.labels.end() || it->second != v) match = false;
    }
    if (match) out.push_back(ToVolume(r, Source::kExisting));
  }
  return out;
}

Result<PoolReport> Service::Report() {
  WB_ASSIGN_OR_RETURN(thinpool::PoolStatus st, pool_->GetStatus());
  PoolReport rep;
  uint64_t block = pool_->block_bytes();
  rep.data_total_bytes = st.data_total * block;
  rep.data_used_bytes = st.data_used * block;
  rep.metadata_total_bytes = st.metadata_total * 4096;
  rep.metadata_used_bytes = st.metadata_used * 4096;
  rep.transaction_id = st.transaction_id;
  thinpool::PoolOptions o = pool_->options();
  rep.data_limit_bytes = o.data_device.empty() ? DataLimit(cfg_, o) / block * block : rep.data_total_bytes;
  MutexLock lock(mu_);
  rep.grow_events = grow_events_;
  rep.full = !pool_full_.empty();
  rep.full_reason = pool_full_;
  WB_ASSIGN_OR_RETURN(auto rows, store_->List());
  for (const auto& r : rows) {
    if (r.state == RowState::kGolden) continue;
    rep.provisioned_bytes += r.size_bytes;
    if (r.state == RowState::kReady) ++rep.volumes;
  }
  rep.classes = stock_->Report();
  return rep;
}

std::vector<std::string> Service::Repairs() const {
  MutexLock lock(mu_);
  return repairs_;
}

bool Service::WaitWarm(int timeout_ms) { return stock_->WaitFull(timeout_ms); }

void Service::Log(const std::string& line) const {
  if (svc_.log) svc_.log(line);
}

void Service::Note(const std::string& line) {
  {
    MutexLock lock(mu_);
    repairs_.push_back(line);
  }
  Log("repair: " + line);
}

Status Service::OpenPool() {
  const std::string dir = cfg_.state_dir + "/pool";
  auto opened = thinpool::Pool::Open(dir, svc_.kernel);
  if (opened.ok()) {
    pool_ = std::move(opened).value();
    for (const auto& r : pool_->repairs()) Note("pool: " + r);
    return Status::OK();
  }
  if (opened.status().code() != Status::Code::kNotFound) return opened.status();
  thinpool::PoolOptions o;
  o.state_dir = dir;
  o.data_bytes = cfg_.pool_data_bytes;
  o.metadata_bytes = cfg_.pool_metadata_bytes;
  o.data_device = cfg_.pool_data_device;
  o.metadata_device = cfg_.pool_metadata_device;
  o.block_sectors = static_cast<uint32_t>(cfg_.pool_block_bytes / 512);
  // Writers get ENOSPC at once, never hang, unless the pool can still
  // grow: then their writes wait the moment it takes to grow it.
  o.error_if_no_space = cfg_.MaxPoolDataBytes() <= cfg_.pool_data_bytes;
  WB_ASSIGN_OR_RETURN(pool_, thinpool::Pool::Create(o, svc_.kernel));
  Log("created pool " + pool_->name() + " in " + dir);
  return Status::OK();
}

Status Service::CheckSettled(const VolumeRecord& r) const {
  bool deleting = r.state == RowState::kDeleting || deleting_.count(r.id) != 0;
  if (!deleting && r.state != RowState::kCreating) return Status::OK();
  return Status::Error(Status::Code::kBusy,
                       "volume " + Quoted(r.name) + " is being " + (deleting ? "deleted" : "created") + "; retry");
}

Volume Service::ToVolume(const VolumeRecord& r, Source source) {
  Volume v;
  v.name = r.name;
  v.class_name = r.class_name;
  v.fs = r.fs;
  v.size_bytes = r.size_bytes;
  v.device = r.ublk_id >= 0 ? "/dev/ublkb" + std::to_string(r.ublk_id) : "";
  v.labels = r.labels;
  v.ephemeral = r.ephemeral;
  v.owner_pid = r.owner_pid;
  v.created_ms = r.created_ms;
  v.state = r.state == RowState::kLost ? VolumeState::kLost : VolumeState::kReady;
  v.source = source;
  return v;
}

std::string Service::Describe(const VolumeRecord& r) {
  return (r.name.empty() ? std::string(StateName(r.state)) + " volume" : "volume " + Quoted(r.name)) + " (thin " +
         r.thin_name + ")";
}

Result<std::unique_ptr<Provisioner>> Provisioner::Start(const Config& config, Services services) {
  WB_RETURN_IF_ERROR(ValidateConfig(config));
  if (services.ublk == nullptr || services.formatter == nullptr || services.kernel.dm == nullptr)
    return Status::InvalidArgument("provisioner services incomplete");
  auto p = std::make_unique<Service>(config, std::move(services));
  WB_RETURN_IF_ERROR(p->Init());
  return std::unique_ptr<Provisioner>(std::move(p));
}

}  // namespace warmblock::provisioner
