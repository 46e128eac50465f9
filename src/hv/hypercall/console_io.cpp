// HYPERVISOR_console_io (public/xen.h): a domain's early console, kept per domain.
#include <cstdint>
#include <string>
#include <xen/xen.h>
#include "hv/domain/domain.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {

long do_console_io(Caller& c, Args const& a) {
    if (!c.dom) return xen_ret(XenErr::inval);   // dom0 has the host's own console
    switch (a[0]) {
    case CONSOLEIO_write: {
        // Xen copies in chunks and gives up at a fault; count is the guest's word, so bound it.
        auto count = a[1] & 0xffffffffull;
        if (count > (1u << 20)) return xen_ret(XenErr::inval);
        std::string buf;
        for (std::uint64_t done = 0; done < count;) {
            char chunk[512];
            auto n = std::min<std::uint64_t>(sizeof chunk, count - done);
            if (!c.mem.read(a[2] + done, chunk, n)) return xen_ret(XenErr::fault);
            buf.append(chunk, n);
            done += n;
        }
        c.dom->console_write(buf);
        return 0;
    }
    case CONSOLEIO_read: return xen_ret(XenErr::perm);   // only the hardware domain may read
    default: return xen_ret(XenErr::nosys);
    }
}

} // namespace kxen::hv
