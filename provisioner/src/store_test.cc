#include "store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace warmblock::provisioner {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wb-store-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "state.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static VolumeRecord Warm(const std::string& thin, uint32_t id) {
    VolumeRecord r;
    r.class_name = "small";
    r.fs = "ext4";
    r.size_bytes = 1 << 30;
    r.thin_name = thin;
    r.thin_id = id;
    r.state = RowState::kWarm;
    r.created_ms = 1000;
    r.ublk_id = 3;
    return r;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(StoreTest, RecordsSurviveReopening) {
  {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->schema_version(), Store::kSchemaVersion);
    VolumeRecord r = Warm("w1", 11);
    ASSERT_TRUE((*store)->Insert(&r).ok());
    EXPECT_GT(r.id, 0);
    r.name = "db-data";
    r.labels = {{"app", "pg"}};
    r.ephemeral = true;
    r.owner_pid = 4321;
    r.owner_start = 987654;
    r.created_ms = 2000;
    r.state = RowState::kReady;
    ASSERT_TRUE((*store)->Claim(r).ok());
  }
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto v = (*store)->FindByName("db-data");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->state, RowState::kReady);
  EXPECT_EQ(v->thin_name, "w1");
  EXPECT_EQ(v->thin_id, 11u);
  EXPECT_EQ(v->labels.at("app"), "pg");
  EXPECT_TRUE(v->ephemeral);
  EXPECT_EQ(v->owner_pid, 4321);
  EXPECT_EQ(v->owner_start, 987654u);
  EXPECT_EQ(v->created_ms, 2000);
  EXPECT_EQ(v->ublk_id, 3);
}

TEST_F(StoreTest, AWarmVolumeIsClaimedOnceAndNamesAreUnique) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  VolumeRecord a = Warm("w1", 1), b = Warm("w2", 2);
  ASSERT_TRUE((*store)->Insert(&a).ok());
  ASSERT_TRUE((*store)->Insert(&b).ok());
  auto claim = [&](VolumeRecord r, const std::string& name) {
    r.name = name;
    r.state = RowState::kReady;
    return (*store)->Claim(r);
  };
  ASSERT_TRUE(claim(a, "x").ok());
  EXPECT_EQ(claim(a, "y").code(), Code::kBusy) << "already handed out";
  EXPECT_EQ(claim(b, "x").code(), Code::kAlreadyExists);
  VolumeRecord dup = Warm("w1", 3);
  EXPECT_EQ((*store)->Insert(&dup).code(), Code::kAlreadyExists) << "thin names are unique";
  EXPECT_EQ((*store)->FindByName("y").status().code(), Code::kNotFound);
}

TEST_F(StoreTest, InsertsFromManyThreadsEachGetTheirOwnRow) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  std::vector<VolumeRecord> rows(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < 64; i += 4) {
        rows[i] = Warm("w" + std::to_string(i), static_cast<uint32_t>(i));
        ASSERT_TRUE((*store)->Insert(&rows[i]).ok());
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& r : rows) {
    auto back = (*store)->Get(r.id);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->thin_name, r.thin_name) << "row " << r.id << " is another insert's";
  }
}

TEST_F(StoreTest, UpdateListAndRemove) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  VolumeRecord a = Warm("w1", 1);
  ASSERT_TRUE((*store)->Insert(&a).ok());
  a.state = RowState::kDeleting;
  ASSERT_TRUE((*store)->Update(a).ok());
  auto all = (*store)->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].state, RowState::kDeleting);
  ASSERT_TRUE((*store)->Remove(a.id).ok());
  EXPECT_EQ((*store)->Update(a).code(), Code::kNotFound);
  EXPECT_TRUE((*store)->List()->empty());
}

TEST_F(StoreTest, ANewerSchemaIsRefusedNotOverwritten) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = Store::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kCorruption);
  EXPECT_NE(store.status().ToString().find("99"), std::string::npos) << store.status().ToString();
}

TEST_F(StoreTest, ASchemaOneDatabaseIsMigratedWithItsRows) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    const char* v1 =
        "CREATE TABLE volumes (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, class TEXT NOT NULL, "
        "fs TEXT NOT NULL, size_bytes INTEGER NOT NULL, thin_name TEXT NOT NULL UNIQUE, thin_id INTEGER NOT NULL, "
        "state TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '{}', ephemeral INTEGER NOT NULL DEFAULT 0, "
        "created_ms INTEGER NOT NULL, pool_txid INTEGER NOT NULL DEFAULT 0, ublk_id INTEGER NOT NULL DEFAULT -1);"
        "CREATE INDEX volumes_state ON volumes(state);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO volumes (name, class, fs, size_bytes, thin_name, thin_id, state, created_ms, ublk_id) "
        "VALUES ('old', 'small', 'ext4', 1073741824, 'v1', 5, 'ready', 1000, 2);"
        "INSERT INTO meta (key, value) VALUES ('pool_txid', '7');"
        "PRAGMA user_version=1;";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->schema_version(), Store::kSchemaVersion);
  auto v = (*store)->FindByName("old");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->thin_id, 5u);
  EXPECT_EQ(v->ublk_id, 2);
  EXPECT_EQ(v->owner_pid, 0) << "volumes from before owners have none";
  store->reset();
  // Schema 3 dropped the transaction ids nothing read.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  int pool_txid_columns = -1, meta_rows = -1;
  auto count = [](void* out, int, char** v, char**) {
    *static_cast<int*>(out) = std::atoi(v[0]);
    return 0;
  };
  sqlite3_exec(db, "SELECT count(*) FROM pragma_table_info('volumes') WHERE name = 'pool_txid'", count,
               &pool_txid_columns, nullptr);
  sqlite3_exec(db, "SELECT count(*) FROM meta", count, &meta_rows, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(pool_txid_columns, 0);
  EXPECT_EQ(meta_rows, 0);
}

TEST_F(StoreTest, GarbageIsReportedAsCorruption) {
  { std::ofstream(path_) << std::string(8192, 'x'); }
  auto store = Store::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kCorruption) << store.status().ToString();
}

}  // namespace
}  // namespace warmblock::provisioner
