#include "toolstack/stream/hvm_context.hpp"
#include "toolstack/stream/io.hpp"

#include <gtest/gtest.h>

namespace kxen::toolstack::stream {
namespace {

hvm_save_header header() {
    hvm_save_header h{};
    h.cpuid = 0x906ea;
    h.gtsc_khz = 2'000'000;
    return h;
}

std::vector<std::byte> one_vcpu_blob() {
    HvmContextBuilder b{header()};
    hvm_hw_cpu cpu{};
    cpu.rip = 0x1234;
    b.add_cpu(0, cpu);
    b.add_lapic(0, hvm_hw_lapic{});
    b.add_mtrr(0, hvm_hw_mtrr{});
    auto blob = b.finish();
    EXPECT_TRUE(blob) << blob.error().message();
    return *blob;
}

// Descriptor + payload, by hand.
void entry(Bytes& b, std::uint16_t code, std::uint16_t inst, std::span<std::byte const> payload) {
    b.u16(code).u16(inst).u32(std::uint32_t(payload.size())).raw(payload);
}
void header_entry(Bytes& b, std::uint32_t magic = HVM_FILE_MAGIC, std::uint32_t version = HVM_FILE_VERSION) {
    b.u16(1).u16(0).u32(24).u32(magic).u32(version).u64(0).u32(0x906ea).u32(2'000'000);
}
void end_entry(Bytes& b) { b.u16(0).u16(0).u32(0); }

std::string parse_error(std::span<std::byte const> blob) {
    auto r = parse_hvm_context(blob, 1000);
    return r ? std::string("accepted") : r.error().message();
}

TEST(HvmContext, HeaderFirstEndLast) {
    auto blob = one_vcpu_blob();
    ASSERT_GE(blob.size(), 8u + 24u + 8u);
    EXPECT_EQ(le16(blob, 0), 1);    // HEADER
    EXPECT_EQ(le32(blob, 4), 24u);
    EXPECT_EQ(le32(blob, 8), std::uint32_t(HVM_FILE_MAGIC));
    EXPECT_EQ(le32(blob, 12), std::uint32_t(HVM_FILE_VERSION));
    EXPECT_EQ(le64(blob, blob.size() - 8), 0u);   // END
}

TEST(HvmContext, TypedRoundTrip) {
    HvmContextBuilder b{header()};
    for (std::uint16_t v = 0; v < 3; ++v) {
        hvm_hw_cpu cpu{};
        cpu.rip = 0x1000 + v;
        cpu.cr3 = 0x5000;
        b.add_cpu(v, cpu);
        hvm_hw_lapic_regs regs{};
        regs.data[0x20] = std::uint8_t(v);
        b.add_lapic_regs(v, regs);
        hvm_hw_cpu_xsave xs{};
        xs.xcr0 = 7;
        std::vector<std::byte> ext(256, std::byte{0xaa});
        b.add_xsave(v, xs, ext);
        hvm_msr::hvm_one_msr m[2]{{0xc0000103, 0, v}, {0x10, 0, 99}};
        b.add_cpu_msrs(v, m);
    }
    auto blob = b.finish();
    ASSERT_TRUE(blob) << blob.error().message();
    auto entries = parse_hvm_context(*blob);
    ASSERT_TRUE(entries) << entries.error().message();
    ASSERT_EQ(entries->size(), 1u + 3 * 4);
    EXPECT_EQ(entries->front().typecode, hvm_code_header);
    EXPECT_EQ(entries->front().as<hvm_save_header>()->gtsc_khz, 2'000'000u);
    int cpus = 0;
    for (auto const& e : *entries) {
        if (e.typecode == hvm_code_cpu) {
            auto cpu = e.as<hvm_hw_cpu>();
            ASSERT_TRUE(cpu);
            EXPECT_EQ(cpu->rip, 0x1000u + e.instance);
            ++cpus;
        }
        if (e.typecode == hvm_code_xsave) {
            EXPECT_EQ(e.data.size(), sizeof(hvm_hw_cpu_xsave) + 256);
        }
        if (e.typecode == hvm_code_msr) {
            EXPECT_EQ(le32(e.data, 0), 2u);
            EXPECT_EQ(le64(e.data, 8 + 8), e.instance);
        }
        if (e.typecode == hvm_code_lapic_regs) {
            EXPECT_EQ(std::to_integer<int>(e.data[0x20]), e.instance);
        }
    }
    EXPECT_EQ(cpus, 3);
}

TEST(HvmContext, AcceptsPre47CpuLayout) {
    Bytes b;
    header_entry(b);
    std::vector<std::byte> compat(sizeof(hvm_hw_cpu_compat));
    entry(b, hvm_code_cpu, 0, compat);
    end_entry(b);
    EXPECT_EQ(parse_error(b.vec()), "accepted");
}

TEST(HvmContext, AcceptsZeroExtendedLapic) {
    Bytes b;
    header_entry(b);
    std::vector<std::byte> lapic(sizeof(hvm_hw_lapic) - 8);
    entry(b, hvm_code_lapic, 0, lapic);
    end_entry(b);
    EXPECT_EQ(parse_error(b.vec()), "accepted");
}

TEST(HvmContext, RefusesBadHeader) {
    Bytes bad_magic;
    header_entry(bad_magic, 0x12345678);
    end_entry(bad_magic);
    EXPECT_EQ(parse_error(bad_magic.vec()),
              "hvm context HEADER entry (instance 0) at offset 1000: magic 0x12345678 is not 0x54381286");
    Bytes bad_version;
    header_entry(bad_version, HVM_FILE_MAGIC, 2);
    end_entry(bad_version);
    EXPECT_NE(parse_error(bad_version.vec()).find("version 2 is not 1"), std::string::npos);
    Bytes no_header;
    entry(no_header, hvm_code_cpu, 0, std::vector<std::byte>(sizeof(hvm_hw_cpu)));
    end_entry(no_header);
    EXPECT_NE(parse_error(no_header.vec()).find("CPU entry (instance 0) at offset 1000: the first entry is not HEADER"),
              std::string::npos);
}

TEST(HvmContext, RefusesStructuralErrors) {
    std::vector<std::byte> cpu(sizeof(hvm_hw_cpu));
    {
        Bytes b;   // a duplicate CPU 0
        header_entry(b);
        entry(b, hvm_code_cpu, 0, cpu);
        entry(b, hvm_code_cpu, 0, cpu);
        end_entry(b);
        EXPECT_NE(parse_error(b.vec()).find("CPU entry (instance 0) at offset 2072: a second entry"), std::string::npos);
    }
    {
        Bytes b;   // unknown typecode
        header_entry(b);
        entry(b, 21, 0, std::vector<std::byte>(8));
        end_entry(b);
        EXPECT_NE(parse_error(b.vec()).find("typecode 21 is not a known save type"), std::string::npos);
    }
    {
        Bytes b;   // length past the end
        header_entry(b);
        b.u16(hvm_code_cpu).u16(0).u32(0xffffffff);
        EXPECT_NE(parse_error(b.vec()).find("runs past the end"), std::string::npos);
    }
    {
        Bytes b;   // no END
        header_entry(b);
        entry(b, hvm_code_cpu, 0, cpu);
        EXPECT_NE(parse_error(b.vec()).find("no END entry"), std::string::npos);
    }
    {
        Bytes b;   // bytes after END
        header_entry(b);
        end_entry(b);
        b.u32(0);
        EXPECT_NE(parse_error(b.vec()).find("4 bytes after END"), std::string::npos);
    }
    {
        Bytes b;   // END with a length
        header_entry(b);
        b.u16(0).u16(0).u32(4).u32(0);
        EXPECT_NE(parse_error(b.vec()).find("END entry (instance 0) at offset 1032: length 4 is not 0"), std::string::npos);
    }
    {
        Bytes b;   // wrong sizes
        header_entry(b);
        entry(b, hvm_code_cpu, 0, std::vector<std::byte>(1000));
        end_entry(b);
        EXPECT_NE(parse_error(b.vec()).find("length 1000 is not 1032 (or 1016)"), std::string::npos);
    }
    {
        Bytes b;
        header_entry(b);
        entry(b, hvm_code_xsave, 0, std::vector<std::byte>(100));
        end_entry(b);
        EXPECT_NE(parse_error(b.vec()).find("CPU_XSAVE entry (instance 0) at offset 1032: length 100 is shorter than 600"),
                  std::string::npos);
    }
    {
        Bytes b;
        header_entry(b);
        Bytes msr;
        msr.u32(3).u32(0).zeros(16);
        entry(b, hvm_code_msr, 1, msr.vec());
        end_entry(b);
        EXPECT_NE(parse_error(b.vec()).find("CPU_MSR entry (instance 1) at offset 1032: count 3 does not match length 24"),
                  std::string::npos);
    }
}

TEST(HvmContext, BuilderRefusesBadEntries) {
    {
        HvmContextBuilder b{header()};
        b.add_cpu(0, hvm_hw_cpu{}).add_cpu(0, hvm_hw_cpu{});
        auto r = b.finish();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().what, "CPU entry (instance 0)");
    }
    {
        HvmContextBuilder b{header()};
        b.add(hvm_code_mtrr, 0, std::vector<std::byte>(10));
        EXPECT_FALSE(b.finish());
    }
    {
        HvmContextBuilder b{header()};
        b.add(hvm_code_end, 0, {});
        EXPECT_FALSE(b.finish());
    }
}

TEST(HvmContext, EveryByteFlippedNeverCrashes) {
    auto blob = one_vcpu_blob();
    int refused = 0;
    for (std::size_t i = 0; i < blob.size(); ++i) {
        auto copy = blob;
        copy[i] ^= std::byte{0x5a};
        auto r = parse_hvm_context(copy);
        if (!r) {
            ++refused;
            EXPECT_FALSE(r.error().detail.empty());
        }
    }
    // The typecode and length of each of the 5 descriptors, and HEADER's magic and version.
    EXPECT_GE(refused, 5 * 6 + 8);
}

TEST(HvmContext, EveryTruncationRefused) {
    auto blob = one_vcpu_blob();
    for (std::size_t n = 0; n < blob.size(); ++n)
        EXPECT_FALSE(parse_hvm_context(std::span{blob}.first(n))) << n;
}

} // namespace
} // namespace kxen::toolstack::stream
