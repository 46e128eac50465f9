// libxentoolcore.so.1: the list of open Xen library handles, so a process can restrict all of
// them to one domain (xentoolcore_restrict_all) before it runs less trusted code (QEMU's
// deprivileging). As Xen's, handles that cannot be restricted are made useless instead.
#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>
#include "xenlibs/toolcore_internal.hpp"

namespace {
std::mutex mu;
std::vector<xentoolcore__active_handle*>& handles() {
    static std::vector<xentoolcore__active_handle*> v;
    return v;
}
}

extern "C" {

void xentoolcore__register_active_handle(xentoolcore__active_handle* ah) {
    std::lock_guard g{mu};
    handles().push_back(ah);
}

void xentoolcore__deregister_active_handle(xentoolcore__active_handle* ah) {
    std::lock_guard g{mu};
    auto& v = handles();
    v.erase(std::remove(v.begin(), v.end(), ah), v.end());
}

int xentoolcore_restrict_all(domid_t domid) {
    std::lock_guard g{mu};
    for (auto* ah : handles())
        if (ah->restrict_callback && ah->restrict_callback(ah, domid) < 0) return -1;
    return 0;
}

int xentoolcore__restrict_by_dup2_null(int fd) {
    int nul = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0) return -1;
    int r = ::dup3(nul, fd, O_CLOEXEC);
    int e = errno;
    ::close(nul);
    errno = e;
    return r < 0 ? -1 : 0;
}

}
