// Test fixtures: guest memory as one flat byte range at a base address, and a ring-0 64-bit
// vCPU state like a guest kernel's.
#pragma once
#include <gtest/gtest.h>
#include <cstring>
#include <initializer_list>
#include <vector>
#include "soft/emulate.hpp"

namespace kxen::soft::test {

class MemEnv : public Env {
public:
    explicit MemEnv(std::uint64_t base = 0x10000, std::size_t size = 0x4000) : base_{base}, mem_(size) {}
    bool read(std::uint64_t gva, void* dst, std::size_t len) override {
        ++reads;
        if (!inside(gva, len)) return false;
        std::memcpy(dst, &mem_[gva - base_], len);
        return true;
    }
    bool write(std::uint64_t gva, void const* src, std::size_t len) override {
        if (!inside(gva, len) || (gva < ro_end && gva + len > ro_begin)) return false;
        std::memcpy(&mem_[gva - base_], src, len);
        return true;
    }
    std::uint64_t rdtsc() override { return tsc; }

    std::uint8_t* at(std::uint64_t gva) { return &mem_[gva - base_]; }
    template <typename T> T get(std::uint64_t gva) {
        T v;
        std::memcpy(&v, at(gva), sizeof v);
        return v;
    }
    template <typename T> void put(std::uint64_t gva, T const& v) { std::memcpy(at(gva), &v, sizeof v); }
    void put_bytes(std::uint64_t gva, std::initializer_list<std::uint8_t> b) { std::copy(b.begin(), b.end(), at(gva)); }
    std::uint64_t base() const { return base_; }
    std::uint64_t end() const { return base_ + mem_.size(); }

    std::uint64_t tsc = 0x1122334455667788;
    std::uint64_t ro_begin = 0, ro_end = 0;   // a read-only window: writes there fail
    int reads = 0;

private:
    bool inside(std::uint64_t gva, std::size_t len) const {
        return gva >= base_ && len <= mem_.size() && gva - base_ <= mem_.size() - len;
    }
    std::uint64_t base_;
    std::vector<std::uint8_t> mem_;
};

// 64-bit ring 0 with SSE and XSAVE enabled (CR4.OSFXSR|OSXMMEXCPT|OSXSAVE), FPU after fninit.
inline CpuState cpu64() {
    CpuState s{};
    s.rip = 0x10000;
    s.rflags = 0x2;
    s.cr0 = 0x80050033;   // PG WP NE ET MP PE
    s.cr4 = 0x40620;      // OSXSAVE OSXMMEXCPT OSFXSR PAE
    s.efer = 0xd01;
    s.long_mode = s.cs_l = true;
    s.mxcsr = 0x1f80;
    s.fcw = 0x037f;
    s.xcr0 = 0x3;
    return s;
}

// 32-bit protected mode, flat.
inline CpuState cpu32() {
    CpuState s = cpu64();
    s.long_mode = s.cs_l = false;
    s.cs_db = true;
    s.cr0 = 0x80000033;
    s.efer = 0;
    return s;
}

using Bytes = std::vector<std::uint8_t>;

// Runs one instruction and checks it completed, RIP moved by its length.
inline Result run(Bytes const& b, CpuState& s, Env& env) { return emulate(b, s, env); }

inline Result run_ok(Bytes const& b, CpuState& s, Env& env) {
    std::uint64_t const rip = s.rip;
    Result r = emulate(b, s, env);
    EXPECT_EQ(r.outcome, Outcome::done) << r.what;
    if (r.outcome == Outcome::done) {
        EXPECT_EQ(s.rip, rip + b.size()) << r.what;
    }
    return r;
}

} // namespace kxen::soft::test
