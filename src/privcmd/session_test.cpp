// privcmd requests as kxend decodes them, without a socket.
#include <cstring>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "hv/hv.hpp"
#include "privcmd/session.hpp"

using namespace kxen;

namespace {

class PrivcmdSession : public ::testing::Test {
protected:
    void SetUp() override {
        auto h = hv::Hv::create(hv::HvOptions{.state_dir = ::testing::TempDir(), .pool_bytes = 1ull << 30, .nr_pcpus = 1});
        ASSERT_TRUE(h) << h.error().message();   // the software vCPU needs nothing from the host
        hv = std::move(*h);
    }
    privcmd::Reply hello(privcmd::Session& s, int fd, std::uint64_t size) {
        privcmd::Request rq{privcmd::magic, privcmd::Op::hello, {size, 0, 0, 0, 0, 0}};
        UniqueFd passed{::dup(fd)};
        int out_fd = -1;
        return s.handle(rq, passed, out_fd);
    }
    std::unique_ptr<hv::Hv> hv;
};

} // namespace

// A hello claiming more than the memfd holds made the first access past
// the file's end a SIGBUS in kxend, taking every guest with it.
TEST_F(PrivcmdSession, HelloRefusesABufferShorterThanItsClaimedSize) {
    UniqueFd mem{::memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
    ASSERT_TRUE(mem);
    ASSERT_EQ(::ftruncate(mem.raw(), 4096), 0);
    privcmd::Session s{*hv};
    EXPECT_EQ(hello(s, mem.raw(), 1 << 20).ret, -EINVAL);
    EXPECT_EQ(hello(s, mem.raw(), 4096).ret, 0);
    // The buffer may not shrink under kxend afterwards.
    EXPECT_NE(::ftruncate(mem.raw(), 0), 0);
    // A read past the end of what the client shares is a fault, not a crash.
    privcmd::Request rq{privcmd::magic, privcmd::Op::host_info, {4095, 200, 0, 0, 0, 0}};
    UniqueFd none;
    int out_fd = -1;
    EXPECT_EQ(s.handle(rq, none, out_fd).ret, -EFAULT);
}

TEST_F(PrivcmdSession, HelloRefusesABufferThatCannotBeSealed) {
    UniqueFd mem{::memfd_create("test", MFD_CLOEXEC)};   // no MFD_ALLOW_SEALING
    ASSERT_TRUE(mem);
    ASSERT_EQ(::ftruncate(mem.raw(), 4096), 0);
    privcmd::Session s{*hv};
    EXPECT_EQ(hello(s, mem.raw(), 4096).ret, -EINVAL);
}

// An empty copy (a hypercall with a zero count) hands the buffer a null pointer: nothing to do.
TEST(PrivcmdBuffer, EmptyCopiesTouchNothing) {
    auto m = Mapping::anonymous(4096);
    ASSERT_TRUE(m);
    privcmd::Buffer b{std::move(*m), 0};
    EXPECT_TRUE(b.read(0, nullptr, 0));
    EXPECT_TRUE(b.write(4096, nullptr, 0));
    EXPECT_FALSE(b.read(4097, nullptr, 0));
}

// A C library's client says where it mapped the buffer: its pointers are followed as they
// are, and nothing outside [base, base + size) is reachable.
TEST(PrivcmdBuffer, PointersAreTakenRelativeToWhereTheClientMappedIt) {
    auto m = Mapping::anonymous(8192);
    ASSERT_TRUE(m);
    std::memcpy(m->data() + 4096, "kxen", 4);
    std::uint64_t const base = 0x7f0000000000;
    privcmd::Buffer b{std::move(*m), base};
    char got[4]{};
    EXPECT_TRUE(b.read(base + 4096, got, 4));
    EXPECT_EQ(std::memcmp(got, "kxen", 4), 0);
    EXPECT_FALSE(b.read(base - 1, got, 1));
    EXPECT_FALSE(b.read(4096, got, 4));   // an offset is not an address here
    EXPECT_TRUE(b.write(base + 8188, got, 4));
    EXPECT_FALSE(b.write(base + 8189, got, 4));
    EXPECT_FALSE(b.read(~0ull - 1, got, 4));
}
