#include "annotations.h"

#include <gtest/gtest.h>

namespace warmblock::hook {
namespace {

TEST(Annotations, ReadsEveryOption) {
  auto v = ParseAnnotations({{"io.warmblock.volume/data", "path=/var/lib/pg,size=10G,fs=xfs,name=pgdata,ro,nosuid"},
                             {"io.warmblock.volume/tmp", "class=small,path=/scratch,nodev,noexec,keep=true"},
                             {"org.opencontainers.image.title", "ignored"}});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 2u);
  const VolumeMount& data = (*v)[0];
  EXPECT_EQ(data.label, "data");
  EXPECT_EQ(data.path, "/var/lib/pg");
  EXPECT_EQ(data.size_bytes, 10ull << 30);
  EXPECT_EQ(data.fs, "xfs");
  EXPECT_EQ(data.name, "pgdata");
  EXPECT_TRUE(data.read_only && data.nosuid);
  EXPECT_FALSE(data.ephemeral());
  EXPECT_EQ(data.VolumeName("0123456789abcdef"), "pgdata");
  const VolumeMount& tmp = (*v)[1];
  EXPECT_EQ(tmp.class_name, "small");
  EXPECT_TRUE(tmp.nodev && tmp.noexec && tmp.keep);
  EXPECT_FALSE(tmp.ephemeral()) << "keep=true";
  EXPECT_EQ(tmp.VolumeName("0123456789abcdef"), "c-0123456789ab-tmp");
}

// The hook's message reaches the runtime's error output and logs: text from
// the container's config cannot end it and forge a line of its own.
TEST(Annotations, ErrorsQuoteTheConfigsText) {
  for (const char* value : {"path=/data,fs=x\nwarmblockd: created volume \"y\"", "path=/data\n,class=small",
                            "path=/data,bogus\x1b[2J=1,class=small"}) {
    auto v = ParseAnnotations({{"io.warmblock.volume/d\nx", value}, {"io.warmblock.volume/data", value}});
    ASSERT_FALSE(v.ok()) << value;
    EXPECT_EQ(v.status().message().find_first_of("\n\x1b"), std::string::npos) << v.status().message();
  }
}

TEST(Annotations, AnUnnamedVolumeIsEphemeral) {
  auto v = ParseAnnotations({{"io.warmblock.volume/a", "path=/a,class=small"}});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE((*v)[0].ephemeral());
  EXPECT_TRUE(ParseAnnotations({})->empty());
}

// podman 4.3 splits --annotation values at commas, so podman users separate
// the options with ';'; both spellings, and a mix, mean the same.
TEST(Annotations, SemicolonsSeparateOptionsLikeCommas) {
  auto commas =
      ParseAnnotations({{"io.warmblock.volume/data", "path=/var/lib/pg,size=10G,fs=xfs,name=pgdata,ro,nosuid"}});
  auto semicolons =
      ParseAnnotations({{"io.warmblock.volume/data", "path=/var/lib/pg;size=10G;fs=xfs;name=pgdata;ro;nosuid"}});
  auto mixed =
      ParseAnnotations({{"io.warmblock.volume/data", "path=/var/lib/pg;size=10G,fs=xfs;;name=pgdata,ro;nosuid;"}});
  ASSERT_TRUE(commas.ok() && semicolons.ok() && mixed.ok())
      << semicolons.status().ToString() << mixed.status().ToString();
  for (const auto* v : {&*semicolons, &*mixed}) {
    ASSERT_EQ(v->size(), 1u);
    const VolumeMount& m = (*v)[0];
    EXPECT_EQ(m.path, "/var/lib/pg");
    EXPECT_EQ(m.size_bytes, 10ull << 30);
    EXPECT_EQ(m.fs, "xfs");
    EXPECT_EQ(m.name, "pgdata");
    EXPECT_TRUE(m.read_only && m.nosuid);
    EXPECT_FALSE(m.nodev || m.noexec);
  }
  // A ';' ends the path: no path holds one.
  auto path = ParseAnnotations({{"io.warmblock.volume/a", "path=/a;b,class=small"}});
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.status().message().find("unknown option \"b\""), std::string::npos) << path.status().ToString();
}

// What podman 4.3 makes of --annotation io.warmblock.volume/data=path=/data,class=small:
// two annotations. The volume lacks its class, and the error says why.
TEST(Annotations, AValueSplitByPodmanIsRefusedWithAHint) {
  auto v = ParseAnnotations({{"io.warmblock.volume/data", "path=/data"}, {"class", "small"}});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("give either class=NAME or size=SIZE"), std::string::npos);
  EXPECT_NE(v.status().message().find("separate the options with ';'"), std::string::npos) << v.status().ToString();
  auto first = ParseAnnotations({{"io.warmblock.volume/data", "class=small"}, {"path", "/data"}});
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("';'"), std::string::npos) << first.status().ToString();
  auto plain = ParseAnnotations({{"io.warmblock.volume/data", "path=/data"}});
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().message().find("podman"), std::string::npos) << "no hint without split-off keys";
  EXPECT_TRUE(ParseAnnotations({{"io.warmblock.volume/data", "path=/data;class=small"}, {"name", "other"}}).ok())
      << "a stray key changes no verdict, only the message";
}

TEST(Annotations, BadOnesNameTheAnnotationAndTheProblem) {
  struct Case {
    const char* key;
    const char* value;
    const char* expect;
  } cases[] = {
      {"io.warmblock.volume/", "path=/a,class=small", "part after the /"},
      {"io.warmblock.volume/Bad", "path=/a,class=small", "part after the /"},
      {"io.warmblock.volume/a", "class=small", "path=... is required"},
      {"io.warmblock.volume/a", "path=relative,class=small", "absolute"},
      {"io.warmblock.volume/a", "path=/,class=small", "may not be /"},
      {"io.warmblock.volume/a", "path=/proc/x,class=small", "may not be /"},
      {"io.warmblock.volume/a", "path=//sys,class=small", "may not be /"},
      {"io.warmblock.volume/a", "path=/./dev,class=small", "may not be /"},
      {"io.warmblock.volume/a", "path=/data/../etc,class=small", "\"..\""},
      {"io.warmblock.volume/a", "path=/a", "either class"},
      {"io.warmblock.volume/a", "path=/a,class=small,size=1G", "either class"},
      {"io.warmblock.volume/a", "path=/a,size=lots", "size"},
      {"io.warmblock.volume/a", "path=/a,size=1G,fs=btrfs", "btrfs"},
      {"io.warmblock.volume/a", "path=/a,class=small,fs=xfs", "fs comes with the class"},
      {"io.warmblock.volume/a", "path=/a,class=small,keep=yes", "keep"},
      {"io.warmblock.volume/a", "path=/a,class=small,colour=red", "colour"},
      {"io.warmblock.volume/a", "path=/a,class=small,rw", "\"rw\""},
      {"io.warmblock.volume/a", "path=/a,class=small,name=-x", "1-63 of A-Z"},
      {"io.warmblock.volume/a", "path=/a,class=small,name=", "1-63 of A-Z"},
  };
  for (const auto& c : cases) {
    auto v = ParseAnnotations({{c.key, c.value}});
    ASSERT_FALSE(v.ok()) << c.key << "=" << c.value;
    EXPECT_EQ(v.status().code(), Status::Code::kInvalidArgument);
    std::string msg = v.status().ToString();
    EXPECT_NE(msg.find(c.key), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.value << " -> " << msg;
  }
  auto twice = ParseAnnotations(
      {{"io.warmblock.volume/a", "path=/d,class=small"}, {"io.warmblock.volume/b", "path=/d,class=small"}});
  EXPECT_FALSE(twice.ok());
  // Found by fuzzing (tests/fuzz): one directory spelt two ways.
  auto spelt = ParseAnnotations(
      {{"io.warmblock.volume/a", "path=/d,class=small"}, {"io.warmblock.volume/b", "path=//d/./,class=small"}});
  ASSERT_FALSE(spelt.ok());
  EXPECT_NE(spelt.status().message().find("used by another volume"), std::string::npos) << spelt.status().ToString();
  EXPECT_TRUE(ParseAnnotations({{"io.warmblock.volume/a", "path=/d,class=small"},
                                {"io.warmblock.volume/b", "path=/d/e,class=small"}})
                  .ok())
      << "a volume inside another's directory is allowed";
}

}  // namespace
}  // namespace warmblock::hook
