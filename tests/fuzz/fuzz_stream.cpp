// The migration stream as `kxl migrate-receive` and `kxl restore` read it from a peer or a
// save file. The first byte picks what the rest is:
//   bits 0-1  0: a save file (xl header, libxl stream with the libxc stream inside)
//             1: a libxl stream   2: a bare libxc stream   3: one HVM context blob
//   bit 2     a checkpointed (Remus/COLO) stream
//   bit 3     HVM context blobs inside the stream are not checked by the reader
// Every record the reader hands on is looked at the way the restore code does: HVM context
// blobs are parsed, page data is walked.
#include <cstdint>
#include <span>
#include <variant>
#include "fuzz_input.hpp"
#include "toolstack/stream/hvm_context.hpp"
#include "toolstack/stream/reader.hpp"

using namespace kxen::toolstack::stream;

namespace {

std::uint64_t sink;   // keeps the walk over record contents from being optimised away

StreamResult<void> look_at(LibxcRecord const& r) {
    if (auto* ctx = std::get_if<HvmContextRecord>(&r)) {
        if (auto entries = parse_hvm_context(ctx->blob))
            for (auto const& e : *entries) sink += e.typecode + e.data.size();
    } else if (auto* pages = std::get_if<PageDataRecord>(&r)) {
        for (auto const& p : pages->pages) sink += p.pfn;
    }
    return {};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    std::uint8_t const mode = in.u8();
    auto body = in.bytes(in.left());
    std::span<std::byte const> bytes{reinterpret_cast<std::byte const*>(body.data()), body.size()};
    ReadOptions opts;
    opts.checkpointed = (mode & 4) != 0;
    opts.check_hvm_context = (mode & 8) == 0;
    opts.pfn_limit = 1u << 20;
    StreamVisitor v{
        [](LibxlRecord const&) -> StreamResult<void> { return {}; },
        [](LibxcHeader const&) -> StreamResult<void> { return {}; },
        look_at,
    };
    MemorySource src{bytes};
    StreamInput input{src};
    switch (mode & 3) {
    case 0: (void)read_xl_save(input, opts, v); break;
    case 1: (void)read_libxl_stream(input, opts, v); break;
    case 2: {
        LibxcReader xc{input, opts};
        if (!xc.read_header()) break;
        // A checkpointed stream goes on after CHECKPOINT; the bare reader stops at END.
        for (int i = 0; i < 1 << 16; ++i) {
            auto r = xc.next();
            if (!r || std::holds_alternative<EndRecord>(*r)) break;
            (void)look_at(*r);
        }
        break;
    }
    default:
        if (auto entries = parse_hvm_context(bytes))
            for (auto const& e : *entries) sink += e.instance;
        break;
    }
    return 0;
}
