// popcnt/lzcnt/tzcnt/crc32, cross-checked against the host CPU's own instructions.
#include <nmmintrin.h>
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::cpu64;
using test::MemEnv;
using test::run_ok;

constexpr std::uint64_t flag_bits = 0x8d5;   // OF SF ZF AF PF CF

// The host CPU's own popcnt/crc32 (every x86-64 host kxend runs on has SSE4.2 and POPCNT).
__attribute__((target("popcnt"))) int host_popcount(std::uint64_t v) { return __builtin_popcountll(v); }
__attribute__((target("sse4.2"))) std::uint32_t host_crc8(std::uint32_t c, std::uint8_t v) { return _mm_crc32_u8(c, v); }
__attribute__((target("sse4.2"))) std::uint32_t host_crc16(std::uint32_t c, std::uint16_t v) { return _mm_crc32_u16(c, v); }
__attribute__((target("sse4.2"))) std::uint32_t host_crc32(std::uint32_t c, std::uint32_t v) { return _mm_crc32_u32(c, v); }
__attribute__((target("sse4.2"))) std::uint32_t host_crc64(std::uint32_t c, std::uint64_t v) {
    return static_cast<std::uint32_t>(_mm_crc32_u64(c, v));
}

TEST(Popcnt, MatchesHostAndSetsFlags) {
    MemEnv env;
    for (std::uint64_t v : {0ull, 1ull, 0xffull, 0x8000000000000001ull, 0xdeadbeefcafebabeull, ~0ull}) {
        CpuState s = cpu64();
        s.rflags = 0x2 | flag_bits;
        s.gpr[1] = v;
        s.gpr[0] = ~0ull;
        run_ok({0xf3, 0x0f, 0xb8, 0xc1}, s, env);   // popcnt eax,ecx
        EXPECT_EQ(s.gpr[0], static_cast<std::uint64_t>(host_popcount(static_cast<std::uint32_t>(v))));
        EXPECT_EQ(s.rflags & flag_bits, static_cast<std::uint32_t>(v) == 0 ? 0x40u : 0u);

        s.gpr[6] = 0x10100;
        env.put(0x10100, v);
        run_ok({0xf3, 0x48, 0x0f, 0xb8, 0x06}, s, env);   // popcnt rax,[rsi]
        EXPECT_EQ(s.gpr[0], static_cast<std::uint64_t>(host_popcount(v)));
        EXPECT_EQ(s.rflags & flag_bits, v == 0 ? 0x40u : 0u);
    }
}

TEST(Popcnt, SixteenBitMergesDestination) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[0] = 0xffffffffffff0000;
    s.gpr[1] = 0xffff00ff;
    run_ok({0x66, 0xf3, 0x0f, 0xb8, 0xc1}, s, env);   // popcnt ax,cx
    EXPECT_EQ(s.gpr[0], 0xffffffffffff0008u);
}

TEST(Lzcnt, Tzcnt) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[1] = 0x00f0;
    run_ok({0xf3, 0x0f, 0xbd, 0xc1}, s, env);   // lzcnt eax,ecx
    EXPECT_EQ(s.gpr[0], 24u);
    EXPECT_EQ(s.rflags & 0x41, 0u);
    run_ok({0xf3, 0x48, 0x0f, 0xbc, 0xc1}, s, env);   // tzcnt rax,rcx
    EXPECT_EQ(s.gpr[0], 4u);
    s.gpr[1] = 0;
    run_ok({0xf3, 0x48, 0x0f, 0xbc, 0xc1}, s, env);
    EXPECT_EQ(s.gpr[0], 64u);
    EXPECT_EQ(s.rflags & 0x41, 0x1u);   // CF: source was zero
    s.gpr[1] = 1ull << 31;
    run_ok({0xf3, 0x0f, 0xbd, 0xc1}, s, env);
    EXPECT_EQ(s.gpr[0], 0u);
    EXPECT_EQ(s.rflags & 0x41, 0x40u);  // ZF: result is zero
}

TEST(Crc32, CheckValueOf123456789) {
    MemEnv env;
    CpuState s = cpu64();
    char const* msg = "123456789";
    std::memcpy(env.at(0x10100), msg, 9);
    s.gpr[0] = 0xffffffff;
    s.gpr[6] = 0x10100;
    run_ok({0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x06}, s, env);   // crc32 rax,qword [rsi]
    s.gpr[6] = 0x10108;
    run_ok({0xf2, 0x0f, 0x38, 0xf0, 0x06}, s, env);         // crc32 eax,byte [rsi]
    EXPECT_EQ(~static_cast<std::uint32_t>(s.gpr[0]), 0xe3069283u);
    EXPECT_EQ(s.gpr[0] >> 32, 0u);
}

TEST(Crc32, EverySourceSizeMatchesHost) {
    MemEnv env;
    std::uint64_t const data = 0x0123456789abcdef, seed = 0x9a3b5c7d;
    env.put(0x10100, data);
    CpuState s = cpu64();
    s.gpr[6] = 0x10100;
    auto check = [&](test::Bytes const& b, std::uint32_t expect) {
        s.gpr[0] = seed | 0xffffffff00000000;   // upper half of the destination is ignored
        run_ok(b, s, env);
        EXPECT_EQ(s.gpr[0], expect);
    };
    check({0xf2, 0x0f, 0x38, 0xf0, 0x06}, host_crc8(seed, static_cast<std::uint8_t>(data)));
    check({0x66, 0xf2, 0x0f, 0x38, 0xf1, 0x06}, host_crc16(seed, static_cast<std::uint16_t>(data)));
    check({0xf2, 0x0f, 0x38, 0xf1, 0x06}, host_crc32(seed, static_cast<std::uint32_t>(data)));
    check({0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x06}, host_crc64(seed, data));
    check({0xf2, 0x48, 0x0f, 0x38, 0xf0, 0x06}, host_crc8(seed, static_cast<std::uint8_t>(data)));
}

TEST(Crc32, HighByteRegisterSource) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[0] = 0x5a00;   // crc32 eax,ah: ah = 0x5a, crc = eax
    run_ok({0xf2, 0x0f, 0x38, 0xf0, 0xc4}, s, env);
    EXPECT_EQ(s.gpr[0], host_crc8(0x5a00, 0x5a));
    s.rflags = 0x2 | flag_bits;
    run_ok({0xf2, 0x0f, 0x38, 0xf0, 0xc1}, s, env);   // crc32 eax,cl
    EXPECT_EQ(s.rflags, 0x2 | flag_bits);               // flags untouched
}

} // namespace
} // namespace kxen::soft
