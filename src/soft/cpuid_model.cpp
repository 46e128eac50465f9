#include "soft/cpuid_model.hpp"
#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace kxen::soft {

std::vector<kvm_cpuid_entry2> cpuid_model() {
    std::vector<kvm_cpuid_entry2> t;
    auto leaf = [&](std::uint32_t fn, std::uint32_t idx, bool indexed, std::uint32_t a, std::uint32_t b,
                    std::uint32_t c, std::uint32_t d) {
        kvm_cpuid_entry2 e{};
        e.function = fn;
        e.index = idx;
        e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
        e.eax = a; e.ebx = b; e.ecx = c; e.edx = d;
        t.push_back(e);
    };
    auto bits = [](std::initializer_list<unsigned> l) {
        std::uint32_t v = 0;
        for (unsigned b : l) v |= 1u << b;
        return v;
    };
    // "GenuineIntel": vendor-specific paths in guests are then the common ones.
    leaf(0, 0, false, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);
    // Family 6, model 0x3a-like signature; no APIC, MTRR, MCE, MMX or PSE-36: not implemented.
    std::uint32_t const ecx1 = bits({0 /*SSE3*/, 9 /*SSSE3*/, 13 /*CX16*/, 19 /*SSE4.1*/, 22 /*MOVBE*/, 23 /*POPCNT*/, 26 /*XSAVE*/});
    std::uint32_t const edx1 = bits({0 /*FPU*/, 3 /*PSE*/, 4 /*TSC*/, 5 /*MSR*/, 6 /*PAE*/, 8 /*CX8*/,
                                     11 /*SEP*/, 13 /*PGE*/, 15 /*CMOV*/, 16 /*PAT*/, 19 /*CLFSH*/,
                                     24 /*FXSR*/, 25 /*SSE*/, 26 /*SSE2*/});
    leaf(1, 0, false, 0x000306a9, 8u << 8 | 1u << 16, ecx1, edx1);
    leaf(7, 0, true, 0, bits({3 /*BMI1*/, 8 /*BMI2*/}), 0, 0);
    // XSAVE: x87 and SSE state only (576 bytes: legacy area and header).
    leaf(0xd, 0, true, 3, 576, 576, 0);
    leaf(0xd, 1, true, 0, 0, 0, 0);
    leaf(0x80000000, 0, false, 0x80000008, 0, 0, 0);
    leaf(0x80000001, 0, false, 0, 0, bits({0 /*LAHF-SAHF*/, 5 /*LZCNT*/}),
         bits({11 /*SYSCALL*/, 20 /*NX*/, 26 /*1 GiB pages*/, 27 /*RDTSCP*/, 29 /*LM*/}));
    char brand[48] = "kxen software vCPU";
    for (unsigned i = 0; i < 3; ++i) {
        std::uint32_t r[4];
        std::memcpy(r, brand + 16 * i, 16);
        leaf(0x80000002 + i, 0, false, r[0], r[1], r[2], r[3]);
    }
    leaf(0x80000008, 0, false, 0x3028, 0, 0, 0);   // 40 physical, 48 linear address bits
    return t;
}

} // namespace kxen::soft
