#include "common/read_file.hpp"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include "common/unique_fd.hpp"

namespace kxen {

auto read_regular_file(std::string const& path, std::size_t max_bytes)
    -> std::expected<std::vector<std::byte>, ReadFileError> {
    auto fail = [](int e, std::string m) { return std::unexpected(ReadFileError{e, std::move(m)}); };
    // O_NONBLOCK: opening a FIFO with no writer must not hang before fstat can refuse it.
    UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
    if (!fd) return fail(errno, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.raw(), &st) != 0) return fail(errno, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail(EINVAL, "not a regular file");
    auto const size = static_cast<std::size_t>(st.st_size);
    if (size > max_bytes)
        return fail(EFBIG, fmt::format("{} bytes, more than the {} allowed", size, max_bytes));
    // One byte more than allowed, so a file that grows while we read is noticed, not cut.
    std::vector<std::byte> out(std::min(size, max_bytes) + 1);
    std::size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd.raw(), out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno, std::strerror(errno));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got > max_bytes)
        return fail(EFBIG, fmt::format("grew past the {} bytes allowed while being read", max_bytes));
    out.resize(got);
    return out;
}

} // namespace kxen
