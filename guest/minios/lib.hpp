// minios::lib: the few libc pieces a freestanding C++ program still needs. The
// mem* functions are extern "C" because GCC emits calls to them on its own.
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" {
void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
}

namespace minios::lib {

size_t strnlen(const char* s, size_t max);
bool str_eq(const char* a, const char* b);
// Parses decimal or 0x-hex; false on junk or an empty string.
bool parse_u64(const char* s, uint64_t* out);

// xorshift64*: reproducible from a seed, good enough to pick garbage.
struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dull;
    }
};

template <typename T, size_t N>
constexpr size_t size(T (&)[N]) { return N; }

}  // namespace minios::lib
