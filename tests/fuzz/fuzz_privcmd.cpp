// kxend's privcmd server as a dom0 client drives it: each request as Session::handle()
// decodes it from the socket (hello with the shared buffer, hypercalls whose pointers are
// offsets into that buffer, foreign and grant mappings, console reads, names, dom0 event
// channels, host info). Domain 1 exists for each input, paused. Waits in console_read and
// domain_wait are set to 0 so that no input sleeps.
// The input is a list of steps, an opcode byte and its operands:
//   0  the client writes its buffer (u16 offset, u8 length, bytes)
//   1  a request: u8 op, u8 width mask, six arguments (u64 where the mask has the
//      argument's bit, else u16); a hello comes with the buffer's memfd
//   2  a hello claiming a u32 size for the 64 KiB buffer
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include "common/mapping.hpp"
#include "fuzz_input.hpp"
#include "hv_fixture.hpp"
#include "privcmd/session.hpp"

using namespace kxen;

namespace {

constexpr std::size_t buffer_size = 64 * 1024;

struct ClientBuffer {
    UniqueFd fd;
    Mapping map;
};

ClientBuffer& client_buffer() {
    static ClientBuffer* const b = [] {
        auto* cb = new ClientBuffer;
        cb->fd = UniqueFd{::memfd_create("fuzz-privcmd", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
        if (!cb->fd || ::ftruncate(cb->fd.raw(), buffer_size) != 0) std::abort();
        auto m = Mapping::shared(cb->fd.raw(), buffer_size);
        if (!m) std::abort();
        cb->map = std::move(*m);
        return cb;
    }();
    return *b;
}

privcmd::Reply hello(privcmd::Session& s, std::uint64_t size) {
    privcmd::Request rq{privcmd::magic, privcmd::Op::hello, {size, 0, 0, 0, 0, 0}};
    UniqueFd passed{::dup(client_buffer().fd.raw())};
    int out_fd = -1;
    return s.handle(rq, passed, out_fd);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)fuzz::the_hv();
    (void)client_buffer();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    fuzz::Input in{data, size};
    auto& buf = client_buffer();
    std::memset(buf.map.data(), 0, buffer_size);
    auto dom = fuzz::fresh_domain();
    {
        privcmd::Session session{fuzz::the_hv()};
        if (hello(session, buffer_size).ret != 0) std::abort();
        for (int step = 0; step < 256 && !in.empty(); ++step) {
            switch (in.u8() % 3) {
            case 0: {
                auto off = in.u16();
                auto b = in.bytes(std::min<std::size_t>(in.u8(), buffer_size - off));
                std::memcpy(buf.map.data() + off, b.data(), b.size());
                break;
            }
            case 1: {
                privcmd::Request rq{privcmd::magic, static_cast<privcmd::Op>(in.u8() % 16), {}};
                std::uint8_t const wide = in.u8();
                for (int i = 0; i < 6; ++i) rq.a[i] = (wide >> i) & 1 ? in.u64() : in.u16();
                if (rq.op == privcmd::Op::console_read) rq.a[4] = 0;
                if (rq.op == privcmd::Op::domain_wait) rq.a[2] = 0;
                UniqueFd passed;
                if (rq.op == privcmd::Op::hello) passed = UniqueFd{::dup(buf.fd.raw())};
                int out_fd = -1;
                (void)session.handle(rq, passed, out_fd);
                break;
            }
            default: (void)hello(session, in.u32()); break;
            }
        }
    }
    dom.reset();
    fuzz::reset_hv();
    return 0;
}
