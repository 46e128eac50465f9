// Sending and receiving one message with an optional file descriptor (SCM_RIGHTS).
#pragma once
#include <cstddef>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace kxen::privcmd {

SysResult<void> send_msg(int sock, void const* data, std::size_t len, int fd = -1);
// Returns the bytes received (0: peer closed); *fd gets a passed descriptor if there was one.
SysResult<std::size_t> recv_msg(int sock, void* data, std::size_t len, UniqueFd* fd = nullptr);

} // namespace kxen::privcmd
