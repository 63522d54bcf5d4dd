#include "warmblock/provisioner/wire.h"

#include <gtest/gtest.h>

namespace warmblock::provisioner::wire {
namespace {

Volume SomeVolume() {
  Volume v;
  v.name = "db";
  v.class_name = "small";
  v.fs = "xfs";
  v.size_bytes = 3ull << 30;
  v.device = "/dev/ublkb7";
  v.labels = {{"app", "pg"}, {"tier", "a b"}};
  v.ephemeral = true;
  v.owner_pid = 4242;
  v.created_ms = 1700000000123;
  v.state = VolumeState::kLost;
  v.source = Source::kGrown;
  return v;
}

TEST(Wire, AVolumeSurvivesTheRoundTripFieldByField) {
  Volume v = SomeVolume();
  json j = Encode(v);
  EXPECT_EQ(j["size"], "3G") << "the human size travels too";
  EXPECT_EQ(j["state"], "lost");
  EXPECT_EQ(j["source"], "grown");
  auto back = DecodeVolume(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, v.name);
  EXPECT_EQ(back->class_name, v.class_name);
  EXPECT_EQ(back->fs, v.fs);
  EXPECT_EQ(back->size_bytes, v.size_bytes);
  EXPECT_EQ(back->device, v.device);
  EXPECT_EQ(back->labels, v.labels);
  EXPECT_EQ(back->ephemeral, v.ephemeral);
  EXPECT_EQ(back->owner_pid, v.owner_pid);
  EXPECT_EQ(back->created_ms, v.created_ms);
  EXPECT_EQ(back->state, v.state);
  EXPECT_EQ(back->source, v.source);
}

TEST(Wire, EveryStateAndSourceHasOneName) {
  for (auto s : {VolumeState::kReady, VolumeState::kLost}) EXPECT_EQ(ParseVolumeState(Name(s)), s);
  for (auto s : {Source::kWarm, Source::kGrown, Source::kCold, Source::kExisting}) EXPECT_EQ(ParseSource(Name(s)), s);
  EXPECT_FALSE(ParseSource("tepid"));
}

TEST(Wire, AReplyMissingAFieldOrOfAnotherTypeSaysWhich) {
  json j = Encode(SomeVolume());
  j.erase("device");
  auto missing = DecodeVolume(j);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "a volume has no \"device\"");
  j = Encode(SomeVolume());
  j["size_bytes"] = "big";
  EXPECT_EQ(DecodeVolume(j).status().message(), "a volume has \"size_bytes\" of the wrong type");
  j = Encode(SomeVolume());
  j["labels"] = {{"app", 1}};
  EXPECT_EQ(DecodeVolume(j).status().message(), "a volume has \"labels\" of the wrong type");
  j = Encode(SomeVolume());
  j["source"] = "tepid";
  EXPECT_NE(DecodeVolume(j).status().message().find("unknown source \"tepid\""), std::string::npos);
  EXPECT_FALSE(DecodeVolumeList(json{{"volumes", {Encode(SomeVolume()), 3}}}).ok());
  EXPECT_EQ(DecodeVolumeList(json::array()).status().message(), "the list is not a JSON object");
}

TEST(Wire, AReplyMayCarryFieldsThisClientDoesNotKnow) {
  json j = Encode(SomeVolume());
  j["qos"] = {{"iops", 100}};
  EXPECT_TRUE(DecodeVolume(j).ok());
}

TEST(Wire, ACreateRequestSurvivesTheRoundTripAndSendsOnlyWhatWasGiven) {
  CreateRequest r;
  r.name = "db";
  r.class_name = "small";
  r.labels = {{"app", "pg"}};
  EXPECT_EQ(Encode(r).dump(), R"({"class":"small","labels":{"app":"pg"},"name":"db"})");
  CreateRequest sized;
  sized.name = "scratch";
  sized.size_bytes = 10ull << 30;
  sized.fs = "xfs";
  sized.ephemeral = true;
  sized.owner_pid = 77;
  auto back = DecodeCreateRequest(Encode(sized).dump());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, "scratch");
  EXPECT_EQ(back->size_bytes, 10ull << 30);
  EXPECT_EQ(back->fs, "xfs");
  EXPECT_TRUE(back->ephemeral);
  EXPECT_EQ(back->owner_pid, 77);
  // Both a class and a size are sent as given, for the daemon to refuse.
  sized.class_name = "small";
  EXPECT_EQ(DecodeCreateRequest(Encode(sized).dump()).status().message(), "class: give either a class or a size");
}

// The daemon's refusals of bad creates, field by field, are tested through
// the API in provisioner/src/api_test.cc.

TEST(Wire, ReportsSurviveTheRoundTrip) {
  PoolReport p;
  p.data_total_bytes = 8ull << 30;
  p.provisioned_bytes = 16ull << 30;
  p.classes = {ClassReport{"small", "ext4", 1ull << 30, 3, 4, 10, 2}};
  p.full = true;
  p.full_reason = "grow the pool";
  json pj = Encode(p);
  EXPECT_EQ(pj["overcommit"], 2.0);
  auto pb = DecodePoolReport(pj);
  ASSERT_TRUE(pb.ok()) << pb.status().ToString();
  EXPECT_EQ(Encode(*pb), pj);
  EXPECT_EQ(pb->classes.at(0).misses, 2u);

  DaemonReport d{"1.2", 5, 9, "0x42", {ReactorReport{2, 1, 100, 4096}}, {"deleted orphan thin t1"}};
  auto db = DecodeDaemonReport(Encode(d));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ(Encode(*db), Encode(d));
  json broken = Encode(d);
  broken["repairs"] = {1};
  EXPECT_FALSE(DecodeDaemonReport(broken).ok());
}

TEST(Wire, ErrorsMapToTheirHttpStatusAndBack) {
  for (auto code : {Status::Code::kInvalidArgument, Status::Code::kNotFound, Status::Code::kAlreadyExists,
                    Status::Code::kBusy, Status::Code::kNoSpace}) {
    Status s = Status::Error(code, "why");
    Status back = DecodeError(HttpStatus(code), EncodeError(s).dump());
    EXPECT_EQ(back.code(), code);
    EXPECT_EQ(back.message(), "why");
  }
  EXPECT_EQ(HttpStatus(Status::Code::kNoSpace), 507);
  EXPECT_EQ(HttpStatus(Status::Code::kCorruption), 500);
  Status starting = DecodeError(503, R"({"error":"warmblockd is starting","code":"starting"})");
  EXPECT_EQ(starting.code(), Status::Code::kIOError);
  EXPECT_EQ(starting.message(), "warmblockd is starting (HTTP 503)");
  EXPECT_EQ(DecodeError(502, "bad gateway").message(), "bad gateway (HTTP 502)");
}

TEST(Wire, TheNameRule) {
  for (const char* ok : {"a", "db-1", "A.b_c", "9"}) EXPECT_TRUE(ValidateVolumeName(ok).ok()) << ok;
  EXPECT_TRUE(ValidateVolumeName(std::string(63, 'x')).ok());
  for (const char* bad : {"", "-a", ".a", "_a", "a/b", "a b", "\xc3\xa9"})
    EXPECT_EQ(ValidateVolumeName(bad).code(), Status::Code::kInvalidArgument) << bad;
  EXPECT_FALSE(ValidateVolumeName(std::string(64, 'x')).ok());
}

}  // namespace
}  // namespace warmblock::provisioner::wire
