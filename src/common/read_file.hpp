// Reading a whole file that a user named (a kernel, a ramdisk, a config) without trusting it:
// only a regular file is read, and only up to a size the caller can afford. A FIFO, a device
// such as /dev/zero or a directory is refused before anything is read.
#pragma once
#include <cstddef>
#include <expected>
#include <string>
#include <vector>

namespace kxen {

struct ReadFileError {
    int err = 0;            // errno, or EFBIG when the file exceeds the limit
    std::string message;    // what is wrong, without the file's name
};

auto read_regular_file(std::string const& path, std::size_t max_bytes)
    -> std::expected<std::vector<std::byte>, ReadFileError>;

} // namespace kxen
