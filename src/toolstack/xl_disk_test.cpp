#include "toolstack/xl_disk.hpp"
#include <gtest/gtest.h>

namespace kxen::toolstack {
namespace {

DiskSpec ok(std::string_view s) {
    auto d = parse_disk_spec(s);
    EXPECT_TRUE(d) << s << ": " << d.error();
    return d.value_or(DiskSpec{});
}
std::string error(std::string_view s) {
    auto d = parse_disk_spec(s);
    EXPECT_FALSE(d) << s;
    return d ? std::string{} : d.error();
}

// The equivalent spellings of xl-disk-configuration(5)'s examples.
TEST(DiskSpec, ManPageExamplesAreEquivalent) {
    for (auto s : {"/dev/vg/guest-volume,,hda", "/dev/vg/guest-volume,raw,hda,rw",
                   "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
                   "raw:/dev/vg/guest-volume,hda,w"}) {
        auto d = ok(s);
        EXPECT_EQ(d.target, "/dev/vg/guest-volume") << s;
        EXPECT_EQ(d.vdev, "hda") << s;
        EXPECT_FALSE(d.readonly) << s;
        EXPECT_FALSE(d.cdrom) << s;
    }
    for (auto s : {"/root/image.iso,,hdc,cdrom", "/root/image.iso,,hdc,,cdrom", "/root/image.iso,raw,hdc,devtype=cdrom",
                   "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
                   "raw:/root/image.iso,hdc:cdrom,ro"}) {
        auto d = ok(s);
        EXPECT_EQ(d.target, "/root/image.iso") << s;
        EXPECT_EQ(d.vdev, "hdc") << s;
        EXPECT_TRUE(d.readonly) << s;
        EXPECT_TRUE(d.cdrom) << s;
    }
}

TEST(DiskSpec, CommonForms) {
    auto d = ok("file:/srv/img,xvda,w");
    EXPECT_EQ(d.target, "/srv/img");
    EXPECT_EQ(d.devid, 51712u);
    d = ok("phy:/dev/sdb,xvdb,r");
    EXPECT_EQ(d.backendtype, "phy");
    EXPECT_TRUE(d.readonly);
    d = ok("vdev=xvdc, access=ro, no-discard, target=/a,b,c");   // target takes the rest
    EXPECT_EQ(d.target, "/a,b,c");
    EXPECT_FALSE(d.discard);
    EXPECT_TRUE(d.readonly);
}

// What disk_spec_text writes, parse_disk_spec reads back unchanged.
TEST(DiskSpec, TextReadsBackAsTheSameSpec) {
    for (auto s : {"file:/srv/img,xvda,w", "phy:/dev/sdb,xvdb,r", "vdev=xvdc, access=ro, no-discard, target=/a,b,c",
                   "/root/image.iso,,hdc,cdrom", ",,hdd,cdrom", "/i,raw,sdb3,rw,direct-io-safe",
                   "backendtype=qdisk, vdev=xvdz, target=/x y/'q'=\\z"}) {
        auto const d = ok(s);
        auto const again = ok(disk_spec_text(d));
        EXPECT_EQ(again.target, d.target) << s;
        EXPECT_EQ(again.vdev, d.vdev) << s;
        EXPECT_EQ(again.devid, d.devid) << s;
        EXPECT_EQ(again.readonly, d.readonly) << s;
        EXPECT_EQ(again.cdrom, d.cdrom) << s;
        EXPECT_EQ(again.discard, d.discard) << s;
        EXPECT_EQ(again.direct_io_safe, d.direct_io_safe) << s;
        EXPECT_EQ(again.backendtype, d.backendtype) << s;
    }
}

// libxl_device_disk_dev_number.
TEST(DiskSpec, DeviceNumbers) {
    EXPECT_EQ(vdev_devid("xvda").value(), (202u << 8) | 0);
    EXPECT_EQ(vdev_devid("xvdb3").value(), (202u << 8) | (1 << 4) | 3);
    EXPECT_EQ(vdev_devid("xvdq").value(), (1u << 28) | (16 << 8));
    EXPECT_EQ(vdev_devid("xvdaa").value(), (1u << 28) | (26 << 8));
    EXPECT_EQ(vdev_devid("hda").value(), 3u << 8);
    EXPECT_EQ(vdev_devid("hdb").value(), (3u << 8) | 64);
    EXPECT_EQ(vdev_devid("hdc").value(), 22u << 8);
    EXPECT_EQ(vdev_devid("sdb").value(), (8u << 8) | 16);
    for (auto bad : {"", "xvd", "xvdA", "vda", "hde", "xvda0", "xvda1x", "sdq"})
        EXPECT_FALSE(vdev_devid(bad)) << bad;
}

TEST(DiskSpec, MistakesAreNamed) {
    EXPECT_NE(error("/img").find("no vdev"), std::string::npos);
    EXPECT_NE(error(",,xvda").find("no target"), std::string::npos);
    EXPECT_NE(error("/img,qcow2,xvda").find("format 'qcow2' is not supported"), std::string::npos);
    EXPECT_NE(error("/img,,xvda,rx").find("access 'rx'"), std::string::npos);
    EXPECT_NE(error("/img,,xvda,rw,extra").find("too many positional"), std::string::npos);
    EXPECT_NE(error("/img,,xvda,vdev=xvdb").find("'vdev' is given twice"), std::string::npos);
    EXPECT_NE(error("/img,,xvda,colour=red").find("unknown disk parameter 'colour'"), std::string::npos);
    EXPECT_NE(error("/img,,xvda,script=block-iscsi").find("not implemented by kxl"), std::string::npos);
    EXPECT_NE(error("/img,,hdc:cdrom,rw").find("cdrom cannot be writable"), std::string::npos);
    EXPECT_NE(error("/img,,nvme0").find("not a disk name"), std::string::npos);
}

} // namespace
} // namespace kxen::toolstack
