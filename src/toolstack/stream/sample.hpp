// A complete migration stream of a small made-up HVM/PVH domain, for conformance checks with
// Xen's own verify-stream-v2 and for tests: 16 RAM pages, 2 vCPUs of HVM context, HVM params,
// TSC info, CPUID and MSR policy.
#pragma once
#include "toolstack/stream/stream_error.hpp"

#include <cstddef>
#include <vector>

namespace kxen::toolstack::stream {

enum class SampleFormat {
    xl,      // xl's save-file header, then the libxl stream
    libxl,   // the libxl stream (what `xl migrate` sends after its own handshake)
    libxc,   // the libxc stream alone
};

struct SampleOptions {
    SampleFormat format = SampleFormat::xl;
    unsigned pages = 16;
    unsigned vcpus = 2;
};

StreamResult<std::vector<std::byte>> build_sample_stream(SampleOptions const& opts = {});

} // namespace kxen::toolstack::stream
