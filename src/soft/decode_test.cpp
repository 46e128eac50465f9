// Decoder: lengths and fields of real encodings (assembled with GNU as, bytes from objdump),
// and describe() text.
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;

struct LengthCase {
    Bytes bytes;
    bool long64, default32;
    char const* what;
};

void PrintTo(LengthCase const& c, std::ostream* os) { *os << c.what; }

class DecodeLength : public ::testing::TestWithParam<LengthCase> {};

TEST_P(DecodeLength, MatchesAssembler) {
    auto const& c = GetParam();
    // Trailing junk must not change the length.
    Bytes padded = c.bytes;
    padded.insert(padded.end(), {0x90, 0x90, 0x90});
    auto d = decode(padded, c.long64, c.default32);
    ASSERT_TRUE(d) << c.what;
    EXPECT_EQ(d->length, c.bytes.size()) << c.what;
    // One byte short is never a full instruction.
    EXPECT_FALSE(decode(std::span(c.bytes).first(c.bytes.size() - 1), c.long64, c.default32)) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, DecodeLength,
    ::testing::Values(
        // 64-bit: ModRM register, RIP-relative, SIB+disp8, REX.R/X/B, mandatory prefixes.
        LengthCase{{0x66, 0x0f, 0xef, 0xc0}, true, true, "pxor xmm0,xmm0"},
        LengthCase{{0x66, 0x44, 0x0f, 0xef, 0x0d, 0x00, 0x01, 0x00, 0x00}, true, true, "pxor xmm9,[rip+0x100]"},
        LengthCase{{0x66, 0x0f, 0x57, 0x5c, 0xc8, 0x10}, true, true, "xorpd xmm3,[rax+rcx*8+0x10]"},
        LengthCase{{0x66, 0x46, 0x0f, 0xd6, 0x54, 0x67, 0xf8}, true, true, "movq [rdi+r12*2-8],xmm10"},
        LengthCase{{0x66, 0x4d, 0x0f, 0x7e, 0xf9}, true, true, "movq r9,xmm15"},
        LengthCase{{0x0f, 0xae, 0x54, 0x24, 0x04}, true, true, "ldmxcsr [rsp+4]"},
        LengthCase{{0x48, 0x0f, 0xae, 0x2e}, true, true, "xrstor64 [rsi]"},
        LengthCase{{0x0f, 0x01, 0xd0}, true, true, "xgetbv"},
        LengthCase{{0x66, 0xf3, 0x0f, 0xb8, 0xc1}, true, true, "popcnt ax,cx"},
        LengthCase{{0x66, 0xf2, 0x0f, 0x38, 0xf1, 0x06}, true, true, "crc32 eax,word [rsi]"},
        LengthCase{{0xf0, 0x48, 0x0f, 0xc7, 0x0f}, true, true, "lock cmpxchg16b [rdi]"},
        LengthCase{{0x0f, 0x31}, true, true, "rdtsc"},
        LengthCase{{0x9b}, true, true, "fwait"},
        LengthCase{{0xd9, 0x3c, 0x24}, true, true, "fnstcw [rsp]"},
        LengthCase{{0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00}, true, true, "mov rax,fs:0x28 (SIB no base)"},
        LengthCase{{0x65, 0x8b, 0x84, 0x8b, 0x00, 0x10, 0x00, 0x00}, true, true, "mov eax,gs:[rbx+rcx*4+0x1000]"},
        LengthCase{{0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, true, true, "mov rax,imm64"},
        LengthCase{{0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, true, true, "mov eax,moffs64"},
        LengthCase{{0x81, 0x44, 0x58, 0x10, 0x78, 0x56, 0x34, 0x12}, true, true, "add [rax+rbx*2+0x10],imm32"},
        LengthCase{{0x80, 0x45, 0x00, 0x01}, true, true, "add byte [rbp+0],1"},
        LengthCase{{0x41, 0xc6, 0x45, 0x00, 0x01}, true, true, "mov byte [r13+0],1 (r13 needs disp8)"},
        LengthCase{{0x41, 0xc7, 0x04, 0x24, 0x01, 0x00, 0x00, 0x00}, true, true, "mov dword [r12],1 (r12 needs SIB)"},
        LengthCase{{0xf6, 0x06, 0x01}, true, true, "test byte [rsi],1"},
        LengthCase{{0xf7, 0x06, 0x00, 0x01, 0x00, 0x00}, true, true, "test dword [rsi],imm32"},
        LengthCase{{0xc8, 0x10, 0x00, 0x01}, true, true, "enter"},
        LengthCase{{0xe9, 0xfb, 0x00, 0x00, 0x00}, true, true, "jmp rel32"},
        LengthCase{{0x0f, 0x84, 0xfa, 0x01, 0x00, 0x00}, true, true, "je rel32"},
        LengthCase{{0x68, 0x78, 0x56, 0x34, 0x12}, true, true, "push imm32"},
        LengthCase{{0x69, 0xc1, 0x00, 0x10, 0x00, 0x00}, true, true, "imul r,r,imm32"},
        LengthCase{{0x6b, 0xc1, 0x03}, true, true, "imul r,r,imm8"},
        LengthCase{{0xc2, 0x08, 0x00}, true, true, "ret imm16"},
        LengthCase{{0x66, 0x0f, 0x1f, 0x04, 0x00}, true, true, "nop word [rax+rax]"},
        // VEX / EVEX.
        LengthCase{{0xc4, 0xe2, 0x69, 0xf7, 0xc1}, true, true, "shlx eax,ecx,edx"},
        LengthCase{{0xc4, 0xe3, 0xfb, 0xf0, 0xc1, 0x0d}, true, true, "rorx rax,rcx,13"},
        LengthCase{{0xc5, 0xf5, 0xef, 0xc2}, true, true, "vpxor ymm0,ymm1,ymm2"},
        LengthCase{{0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x06}, true, true, "vmovdqu64 zmm0,[rsi]"},
        // 32-bit code.
        LengthCase{{0x66, 0x0f, 0xef, 0x44, 0xb3, 0x10}, false, true, "pxor xmm0,[ebx+esi*4+0x10]"},
        LengthCase{{0xa1, 0x78, 0x56, 0x34, 0x12}, false, true, "mov eax,moffs32"},
        LengthCase{{0x67, 0x66, 0x8b, 0x40, 0x02}, false, true, "mov ax,[bx+si+2]"},
        LengthCase{{0x67, 0x8b, 0x83, 0x34, 0x12}, false, true, "mov eax,[bp+di+0x1234]"},
        LengthCase{{0xc5, 0xf1, 0xef, 0xc2}, false, true, "vpxor in 32-bit code"},
        LengthCase{{0xc4, 0x03}, false, true, "les eax,[ebx] (not VEX)"},
        LengthCase{{0x9a, 0x78, 0x56, 0x34, 0x12, 0x10, 0x00}, false, true, "call far ptr16:32"},
        // 16-bit code.
        LengthCase{{0x8b, 0x40, 0x02}, false, false, "mov ax,[bx+si+2]"},
        LengthCase{{0x8b, 0x46, 0x00}, false, false, "mov ax,[bp+0]"},
        LengthCase{{0xa1, 0x34, 0x12}, false, false, "mov ax,moffs16"},
        LengthCase{{0x67, 0x66, 0x8b, 0x43, 0x04}, false, false, "mov eax,[ebx+4]"},
        LengthCase{{0xe9, 0xfd, 0x00}, false, false, "jmp rel16"}));

TEST(Decode, Fields) {
    Bytes const b{0x66, 0x46, 0x0f, 0xd6, 0x54, 0x67, 0xf8};   // movq [rdi+r12*2-8],xmm10
    auto d = decode(b, true, true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->map, Map::m0f);
    EXPECT_EQ(d->opcode, 0xd6);
    EXPECT_EQ(d->mandatory, 0x66);
    EXPECT_EQ(d->rex, 0x46);
    EXPECT_EQ(d->reg(), 10u);
    EXPECT_TRUE(d->has_sib);
    EXPECT_EQ(d->disp, -8);
    EXPECT_EQ(d->disp_size, 1);
    EXPECT_TRUE(d->is_mem());
}

TEST(Decode, LastOfF2F3IsMandatoryAnd66IsOperandSize) {
    auto d = decode(Bytes{0x66, 0xf2, 0x0f, 0x38, 0xf1, 0x06}, true, true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->map, Map::m0f38);
    EXPECT_EQ(d->mandatory, 0xf2);
    EXPECT_EQ(d->op_size, 2);
    d = decode(Bytes{0xf2, 0xf3, 0x0f, 0xb8, 0xc1}, true, true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->mandatory, 0xf3);
}

TEST(Decode, RexBeforeLegacyPrefixIsIgnored) {
    auto d = decode(Bytes{0x48, 0x66, 0x0f, 0xef, 0xc0}, true, true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->rex, 0);
    EXPECT_EQ(d->length, 5);
}

TEST(Decode, RexIsAnOpcodeOutside64BitMode) {
    auto d = decode(Bytes{0x48, 0x0f, 0xae, 0x2e}, false, true);   // dec eax
    ASSERT_TRUE(d);
    EXPECT_EQ(d->length, 1);
    EXPECT_EQ(d->opcode, 0x48);
}

TEST(Decode, VexFields) {
    auto d = decode(Bytes{0xc4, 0x42, 0xab, 0xf7, 0xc1}, true, true);   // shrx r8,r9,r10
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->vex);
    EXPECT_EQ(d->map, Map::m0f38);
    EXPECT_EQ(d->mandatory, 0xf2);
    EXPECT_EQ(d->vex_vvvv, 10);
    EXPECT_EQ(d->reg(), 8u);
    EXPECT_EQ(d->rm(), 9u);
    EXPECT_EQ(d->op_size, 8);
}

TEST(Decode, LongerThan15BytesIsRejected) {
    Bytes b(14, 0x66);
    b.insert(b.end(), {0x0f, 0xef, 0xc0});
    EXPECT_FALSE(decode(b, true, true));
}

TEST(Decode, EmptyInput) { EXPECT_FALSE(decode(Bytes{}, true, true)); }

TEST(Describe, KnownInstructions) {
    EXPECT_EQ(describe(Bytes{0x66, 0x0f, 0xef, 0xc0}), "66 0f ef c0 (pxor xmm0,xmm0)");
    EXPECT_EQ(describe(Bytes{0x66, 0x46, 0x0f, 0xd6, 0x54, 0x67, 0xf8}),
              "66 46 0f d6 54 67 f8 (movq [rdi+r12*2-0x8],xmm10)");
    EXPECT_EQ(describe(Bytes{0x66, 0x44, 0x0f, 0xef, 0x0d, 0x00, 0x01, 0x00, 0x00}),
              "66 44 0f ef 0d 00 01 00 00 (pxor xmm9,[rip+0x100])");
    EXPECT_EQ(describe(Bytes{0xf2, 0x0f, 0x38, 0xf0, 0xc4}), "f2 0f 38 f0 c4 (crc32 eax,ah)");
    EXPECT_EQ(describe(Bytes{0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x06}), "f2 48 0f 38 f1 06 (crc32 rax,[rsi])");
    EXPECT_EQ(describe(Bytes{0xd9, 0xe8}), "d9 e8 (fld1)");
    EXPECT_EQ(describe(Bytes{0xde, 0xc1}), "de c1 (faddp st(1),st)");
    EXPECT_EQ(describe(Bytes{0xc4, 0xe2, 0xe9, 0xf7, 0xc1}), "c4 e2 e9 f7 c1 (shlx rax,rcx,rdx)");
    EXPECT_EQ(describe(Bytes{0x65, 0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x10, 0x00, 0x00, 0x00}),
              "65 48 0f c7 0c 25 10 00 00 00 (cmpxchg16b gs:[0x10])");
}

TEST(Describe, OnlyTheInstructionsBytes) {
    EXPECT_EQ(describe(Bytes{0x0f, 0x01, 0xf9, 0x90, 0x90}), "0f 01 f9 (rdtscp)");
}

TEST(Describe, UnsupportedAndBroken) {
    EXPECT_EQ(describe(Bytes{0x0f, 0xfc, 0xc1}), "0f fc c1 (mmx)");
    EXPECT_EQ(describe(Bytes{0x0f, 0x34}), "0f 34 (sysenter)");
    EXPECT_EQ(describe(Bytes{0x0f, 0x01, 0xc1}), "0f 01 c1 (vmcall)");
    EXPECT_EQ(describe(Bytes{0xc5, 0xf5, 0xef, 0xc2}), "c5 f5 ef c2 (vex)");
    EXPECT_EQ(describe(Bytes{0xd6}), "d6 (unknown)");
    EXPECT_EQ(describe(Bytes{0x66, 0x0f, 0xef}), "66 0f ef (truncated)");
}

TEST(Describe, SixteenBitAddressing) {
    EXPECT_EQ(describe(Bytes{0x66, 0x0f, 0xef, 0x04}, false, false), "66 0f ef 04 (pxor xmm0,[si])");
}

} // namespace
} // namespace kxen::soft
