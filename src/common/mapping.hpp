// kxen::Mapping: owns one mmap()ed range; munmaps it when dropped.
#pragma once
#include <sys/mman.h>
#include <cstddef>
#include <utility>
#include "common/sys_error.hpp"

namespace kxen {

class Mapping {
public:
    Mapping() = default;
    Mapping(void* addr, std::size_t len) : addr_{addr}, len_{len} {}
    Mapping(Mapping&& o) noexcept
        : addr_{std::exchange(o.addr_, nullptr)}, len_{std::exchange(o.len_, 0)} {}
    Mapping& operator=(Mapping&& o) noexcept {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, nullptr);
            len_ = std::exchange(o.len_, 0);
        }
        return *this;
    }
    Mapping(Mapping const&) = delete;
    Mapping& operator=(Mapping const&) = delete;
    ~Mapping() { reset(); }

    // A MAP_SHARED mapping of fd [offset, offset+len), read-write unless prot says otherwise.
    static SysResult<Mapping> shared(int fd, std::size_t len, off_t offset = 0,
                                     int prot = PROT_READ | PROT_WRITE) {
        void* p = ::mmap(nullptr, len, prot, MAP_SHARED, fd, offset);
        if (p == MAP_FAILED) return sys_fail("mmap");
        return Mapping{p, len};
    }
    // Address space only; pages appear on first touch (or are never backed, with PROT_NONE).
    static SysResult<Mapping> anonymous(std::size_t len, int prot = PROT_READ | PROT_WRITE,
                                        int extra_flags = 0) {
        void* p = ::mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
        if (p == MAP_FAILED) return sys_fail("mmap anonymous");
        return Mapping{p, len};
    }

    void reset() {
        if (addr_) ::munmap(addr_, len_);
        addr_ = nullptr;
        len_ = 0;
    }
    template <typename T = std::byte> T* as() const { return static_cast<T*>(addr_); }
    [[nodiscard]] std::byte* data() const { return static_cast<std::byte*>(addr_); }
    [[nodiscard]] std::size_t size() const { return len_; }
    explicit operator bool() const { return addr_ != nullptr; }

private:
    void* addr_ = nullptr;
    std::size_t len_ = 0;
};

} // namespace kxen
