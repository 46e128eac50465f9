#include "toolstack/xl_cfg_domain.hpp"

#include <gtest/gtest.h>

namespace kxen::toolstack {
namespace {

std::expected<DomainConfig, CfgError> domain(std::string_view text) {
    auto cfg = parse_xl_cfg(text, "d.cfg");
    EXPECT_TRUE(cfg) << cfg.error().to_string();
    if (!cfg) return std::unexpected(cfg.error());
    return domain_config_from(*cfg);
}

void expect_invalid(std::string_view text, std::string const& where_and_what) {
    auto d = domain(text);
    ASSERT_FALSE(d.has_value()) << text;
    EXPECT_EQ(d.error().to_string(), where_and_what);
}

constexpr std::string_view minimal = "name = \"g\"\ntype = \"pvh\"\nkernel = \"/k\"\n";

TEST(DomainConfig, MinimalConfigGetsXlDefaults) {
    auto d = domain(minimal);
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->name, "g");
    EXPECT_EQ(d->type, DomainType::pvh);
    EXPECT_EQ(d->kernel, "/k");
    EXPECT_EQ(d->memory_mib, 128u);
    EXPECT_EQ(d->maxmem_mib, 128u);
    EXPECT_EQ(d->memory_bytes(), 128u << 20);
    EXPECT_EQ(d->vcpus, 1u);
    EXPECT_EQ(d->max_vcpus, 1u);
    EXPECT_FALSE(d->ramdisk);
    EXPECT_EQ(d->cmdline, "");
    EXPECT_EQ(d->on_poweroff, ShutdownAction::destroy);
    EXPECT_EQ(d->on_reboot, ShutdownAction::restart);
    EXPECT_EQ(d->on_crash, ShutdownAction::destroy);
    EXPECT_EQ(d->on_watchdog, ShutdownAction::destroy);
    EXPECT_EQ(d->on_soft_reset, ShutdownAction::soft_reset);
    EXPECT_TRUE(d->uuid_generated);
    EXPECT_TRUE(d->ignored.empty());
    EXPECT_TRUE(d->warnings.empty());
}

TEST(DomainConfig, FullConfig) {
    auto d = domain(
        "name = \"web\"\ntype = \"pvh\"\nkernel = \"k.elf\"\nramdisk = \"/i.img\"\n"
        "memory = 256\nmaxmem = 512\nvcpus = 2\nmaxvcpus = 4\n"
        "uuid = \"01234567-89AB-cdef-0123-456789abcdef\"\n"
        "on_poweroff = \"preserve\"\non_reboot = \"rename-restart\"\n"
        "on_crash = \"coredump-restart\"\non_watchdog = \"coredump-destroy\"\n"
        "cmdline = \"console=hvc0\"\ndisk = ['/x.img,,xvda']\nvif = []\n");
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->kernel, "k.elf");   // relative paths stay relative to the cwd, as in xl
    EXPECT_EQ(d->ramdisk, "/i.img");
    EXPECT_EQ(d->memory_mib, 256u);
    EXPECT_EQ(d->maxmem_mib, 512u);
    EXPECT_EQ(d->vcpus, 2u);
    EXPECT_EQ(d->max_vcpus, 4u);
    EXPECT_FALSE(d->uuid_generated);
    EXPECT_EQ(d->uuid.to_string(), "01234567-89ab-cdef-0123-456789abcdef");
    EXPECT_EQ(d->uuid.bytes[0], 0x01);
    EXPECT_EQ(d->uuid.bytes[15], 0xef);
    EXPECT_EQ(d->on_poweroff, ShutdownAction::preserve);
    EXPECT_EQ(d->on_reboot, ShutdownAction::rename_restart);
    EXPECT_EQ(d->on_crash, ShutdownAction::coredump_restart);
    EXPECT_EQ(d->on_watchdog, ShutdownAction::coredump_destroy);
    EXPECT_EQ(d->cmdline, "console=hvc0");
    ASSERT_EQ(d->disks.size(), 1u);
    EXPECT_EQ(d->disks[0].target, "/x.img");
    ASSERT_EQ(d->ignored.size(), 1u);
    EXPECT_EQ(d->ignored[0].key, "vif");
    EXPECT_EQ(d->ignored[0].line, 16);
}

TEST(DomainConfig, CmdlineFromRootAndExtraAsXlBuildsIt) {
    std::string const base{minimal};
    EXPECT_EQ(domain(base + "root = \"/dev/xvda1\"\nextra = \"ro quiet\"\n")->cmdline, "root=/dev/xvda1 ro quiet");
    EXPECT_EQ(domain(base + "root = \"/dev/xvda1\"\n")->cmdline, "root=/dev/xvda1");
    EXPECT_EQ(domain(base + "extra = \"test=idle\"\n")->cmdline, "test=idle");
    auto d = domain(base + "cmdline = \"a=b\"\nextra = \"ignored\"\n");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->cmdline, "a=b");
    ASSERT_EQ(d->warnings.size(), 1u);
    EXPECT_EQ(d->warnings[0], "ignoring root= and extra= in favour of cmdline=");
}

TEST(DomainConfig, MissingRequiredSettings) {
    expect_invalid("type = \"pvh\"\nkernel = \"/k\"\n", "d.cfg: 'name' is required");
    expect_invalid("name = \"g\"\ntype = \"pvh\"\n", "d.cfg: 'kernel' is required for a PVH guest");
    expect_invalid("name = \"\"\nkernel = \"/k\"\n", "d.cfg:1:8: 'name' must not be empty");
}

// kxend's rule (common/domain_name.hpp), checked before kxl connects to anything.
TEST(DomainConfig, NamesFollowKxendsRule) {
    expect_invalid("name = \"a\\nb\"\nkernel = \"/k\"\n",
                   "d.cfg:1:8: 'name' may hold only letters, digits, '-', '_' and '.'; not '\\n'");
    expect_invalid("name = \"a/b\"\nkernel = \"/k\"\n",
                   "d.cfg:1:8: 'name' may hold only letters, digits, '-', '_' and '.'; not '/'");
    expect_invalid("name = \"" + std::string(100000, 'x') + "\"\nkernel = \"/k\"\n",
                   "d.cfg:1:8: 'name' is 100000 characters long; kxen allows at most 64");
    EXPECT_TRUE(domain("name = \"" + std::string(64, 'x') + "\"\nkernel = \"/k\"\n"));
    EXPECT_TRUE(domain("name = \"web-01_a.b\"\nkernel = \"/k\"\n"));
}

// Parsing is linear: keys are indexed, so 100,000 distinct unknown keys are read and all
// reported (the time is a benchmark figure, bench/xl_cfg_bench.cpp, not checked here).
TEST(DomainConfig, ManyUnknownKeysAreAllReported) {
    std::string text = "name = \"g\"\nkernel = \"/k\"\n";
    for (int i = 0; i < 100000; ++i) text += "unknown_key_" + std::to_string(i) + " = " + std::to_string(i) + "\n";
    auto d = domain(text);
    ASSERT_TRUE(d);
    ASSERT_EQ(d->ignored.size(), 100000u);
    EXPECT_EQ(d->ignored.front().key, "unknown_key_0");
    EXPECT_EQ(d->ignored.front().line, 3);
    EXPECT_EQ(d->ignored.back().key, "unknown_key_99999");
}

TEST(DomainConfig, OnlyPvhIsSupported) {
    expect_invalid("name = \"g\"\ntype = \"hvm\"\nkernel = \"/k\"\n",
                   "d.cfg:2:8: HVM guests are not supported: kxen runs PVH guests only (set type = \"pvh\")");
    expect_invalid("name = \"g\"\ntype = \"pv\"\nkernel = \"/k\"\n",
                   "d.cfg:2:8: PV guests are not supported: kxen runs PVH guests only (set type = \"pvh\")");
    expect_invalid("name = \"g\"\nbuilder = \"hvm\"\nkernel = \"/k\"\n",
                   "d.cfg:2:11: HVM guests are not supported: kxen runs PVH guests only (set type = \"pvh\")");
    expect_invalid("name = \"g\"\nbuilder = \"generic\"\nkernel = \"/k\"\n",
                   "d.cfg:2:11: PV guests are not supported: kxen runs PVH guests only (set type = \"pvh\")");
    expect_invalid("name = \"g\"\ntype = \"pvhh\"\nkernel = \"/k\"\n",
                   "d.cfg:2:8: unknown type \"pvhh\" (xl knows \"pv\", \"pvh\" and \"hvm\")");
    expect_invalid("name = \"g\"\npvh = 0\nkernel = \"/k\"\n",
                   "d.cfg:2:7: PV guests are not supported: kxen runs PVH guests only (set type = \"pvh\")");
}

TEST(DomainConfig, TypeDefaultsToPvhWithAWarning) {
    auto d = domain("name = \"g\"\nkernel = \"/k\"\n");
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->type, DomainType::pvh);
    ASSERT_EQ(d->warnings.size(), 1u);
    EXPECT_NE(d->warnings[0].find("no 'type' given"), std::string::npos);
    auto legacy = domain("name = \"g\"\npvh = 1\nkernel = \"/k\"\n");
    ASSERT_TRUE(legacy) << legacy.error().to_string();
    EXPECT_NE(legacy->warnings[0].find("deprecated"), std::string::npos);
}

TEST(DomainConfig, MemoryChecks) {
    std::string const base{minimal};
    expect_invalid(base + "memory = 512\nmaxmem = 256\n", "d.cfg:5:10: 'maxmem' (256 MiB) must not be below 'memory' (512 MiB)");
    expect_invalid(base + "memory = 0\n", "d.cfg:4:10: 'memory' must be between 1 and 1099511627776, not 0");
    expect_invalid(base + "memory = \"lots\"\n", "d.cfg:4:10: 'memory' must be a number");
    auto d = domain(base + "maxmem = 1024\n");
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->memory_mib, 128u);
    EXPECT_EQ(d->maxmem_mib, 1024u);
    EXPECT_EQ(domain(base + "memory = 64\n")->maxmem_mib, 64u);   // maxmem defaults to memory
}

TEST(DomainConfig, VcpuChecks) {
    std::string const base{minimal};
    expect_invalid(base + "vcpus = 0\n", "d.cfg:4:9: 'vcpus' must be between 1 and 128, not 0");
    expect_invalid(base + "vcpus = 4\nmaxvcpus = 2\n", "d.cfg:5:12: 'maxvcpus' (2) must not be below 'vcpus' (4)");
    expect_invalid(base + "maxvcpus = 200\n", "d.cfg:4:12: 'maxvcpus' must be between 1 and 128, not 200");
    EXPECT_EQ(domain(base + "vcpus = 3\n")->max_vcpus, 3u);   // maxvcpus defaults to vcpus
}

TEST(DomainConfig, UuidChecks) {
    std::string const base{minimal};
    expect_invalid(base + "uuid = \"not-a-uuid\"\n",
                   "d.cfg:4:8: 'uuid' must look like 01234567-89ab-cdef-0123-456789abcdef, not \"not-a-uuid\"");
    expect_invalid(base + "uuid = \"0123456789ab-cdef-0123-456789abcdef0\"\n",
                   "d.cfg:4:8: 'uuid' must look like 01234567-89ab-cdef-0123-456789abcdef, not "
                   "\"0123456789ab-cdef-0123-456789abcdef0\"");
    auto a = domain(minimal);
    auto b = domain(minimal);
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->uuid, b->uuid);
    EXPECT_EQ(a->uuid.bytes[6] >> 4, 4);        // version 4
    EXPECT_EQ(a->uuid.bytes[8] & 0xc0, 0x80);   // RFC 4122 variant
    EXPECT_EQ(Uuid::parse(a->uuid.to_string()), a->uuid);
}

TEST(DomainConfig, ShutdownActionChecks) {
    std::string const base{minimal};
    expect_invalid(base + "on_crash = \"reboot\"\n",
                   "d.cfg:4:12: 'on_crash' must be one of destroy, restart, rename-restart, preserve, "
                   "coredump-destroy, coredump-restart, soft-reset; not \"reboot\"");
    for (auto a : {ShutdownAction::destroy, ShutdownAction::restart, ShutdownAction::rename_restart,
                   ShutdownAction::preserve, ShutdownAction::coredump_destroy,
                   ShutdownAction::coredump_restart, ShutdownAction::soft_reset})
        EXPECT_EQ(shutdown_action_from(to_string(a)), a);
}

TEST(DomainConfig, OverridesApplyBeforeValidation) {
    auto cfg = parse_xl_cfg(std::string{minimal} + "memory = 128\nextra = \"console=hvc0\"\n", "d.cfg");
    ASSERT_TRUE(cfg);
    std::vector<std::string> args{"memory=64", "extra=\"test=idle\""};
    ASSERT_TRUE(cfg->apply_overrides(args));
    auto d = domain_config_from(*cfg);
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->memory_mib, 64u);
    EXPECT_EQ(d->cmdline, "test=idle");
    std::vector<std::string> bad{"vcpus=0"};
    ASSERT_TRUE(cfg->apply_overrides(bad));
    auto e = domain_config_from(*cfg);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().to_string(), "<command line>:1:7: 'vcpus' must be between 1 and 128, not 0");
}

} // namespace
} // namespace kxen::toolstack

namespace kxen::toolstack {
namespace {

TEST(DomainConfig, DisksAreParsedAndErrorsPointAtTheEntry) {
    auto d = domain("name = \"g\"\nkernel = \"/k\"\ndisk = [ 'file:/a.img,xvda,w',\n  '/b.iso,,hdc,cdrom' ]\n");
    ASSERT_TRUE(d);
    ASSERT_EQ(d->disks.size(), 2u);
    EXPECT_EQ(d->disks[0].target, "/a.img");
    EXPECT_TRUE(d->disks[1].cdrom);
    EXPECT_TRUE(d->ignored.empty());
    expect_invalid("name = \"g\"\nkernel = \"/k\"\ndisk = [ '/a,,xvda',\n  '/b,qcow2,xvdb' ]\n",
                   "d.cfg:4:3: disk '/b,qcow2,xvdb': format 'qcow2' is not supported: kxen's disk backend reads raw images");
    expect_invalid("name = \"g\"\nkernel = \"/k\"\ndisk = [ '/a,,xvda', '/b,,xvda' ]\n",
                   "d.cfg:3:22: disk '/b,,xvda': vdev xvda is the same device as xvda");
}

} // namespace
} // namespace kxen::toolstack
