// Test helper: guest RAM in a plain buffer, behind the GuestPhysWriter interface.
#pragma once
#include "toolstack/build/guest_phys_writer.hpp"

#include <vector>

namespace kxen::toolstack::build::test {

class TestRam final : public GuestPhysWriter {
public:
    // Backs [0, size) only; the builder never writes above 4 GiB.
    explicit TestRam(std::size_t size, std::byte fill = std::byte{0}) : ram_(size, fill) {}

    std::span<std::byte> map(std::uint64_t gpa, std::size_t len) override {
        ++calls;
        if (len > max_len) max_len = len;
        if (len > max_map_len || gpa / max_map_len != (gpa + len - 1) / max_map_len) ++window_violations;
        if (fail || gpa > ram_.size() || len > ram_.size() - gpa) return {};
        return {ram_.data() + gpa, len};
    }

    [[nodiscard]] std::span<std::byte const> at(std::uint64_t gpa, std::size_t len) const {
        return {ram_.data() + gpa, len};
    }

    bool fail = false;
    unsigned calls = 0;
    std::size_t max_len = 0;
    unsigned window_violations = 0;

private:
    std::vector<std::byte> ram_;
};

} // namespace kxen::toolstack::build::test
