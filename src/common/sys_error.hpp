// kxen::SysError: a host call that failed, with its errno and the call's name.
#pragma once
#include <cerrno>
#include <cstring>
#include <expected>
#include <string>

namespace kxen {

struct SysError {
    int err = 0;
    std::string what;   // the call (and object) that failed, e.g. "KVM_CREATE_VCPU"

    static SysError last(std::string what) { return {errno, std::move(what)}; }
    static SysError of(int e, std::string what) { return {e, std::move(what)}; }
    [[nodiscard]] std::string message() const {
        return err ? what + ": " + std::strerror(err) : what;
    }
};

template <typename T> using SysResult = std::expected<T, SysError>;

inline std::unexpected<SysError> sys_fail(std::string what) {
    return std::unexpected(SysError::last(std::move(what)));
}
inline std::unexpected<SysError> sys_fail(int e, std::string what) {
    return std::unexpected(SysError::of(e, std::move(what)));
}

} // namespace kxen
