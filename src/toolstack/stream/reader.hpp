// Readers for xl's save-file header, the libxl stream and the libxc stream, written to the
// specs and to what Xen 4.17's restore code accepts for an x86 HVM (or PVH) domain.
//
// Every header and record is checked before it is handed on: lengths against the record type
// (and against a cap before anything is allocated), zero padding and reserved fields, PAGE_DATA
// counts, pfn types and a caller-given pfn limit, record order (STATIC_DATA_END before
// PAGE_DATA in version 3, END last), duplicate and missing records. Unknown optional records
// are skipped; unknown mandatory ones are refused. A refusal is a StreamError naming the
// record and its offset in the whole stream.
#pragma once
#include "toolstack/stream/format.hpp"
#include "toolstack/stream/io.hpp"
#include "toolstack/stream/stream_error.hpp"

#include <functional>

namespace kxen::toolstack::stream {

// Caps on record bodies, checked before a body is read. A record over its cap is refused.
inline constexpr std::uint32_t page_data_length_max =
    8 + page_batch_max * (8 + std::uint32_t(page_size));
inline constexpr std::uint32_t hvm_context_length_max = 16u << 20;
inline constexpr std::uint32_t hvm_params_length_max = 8 + 16 * 1024;
inline constexpr std::uint32_t policy_length_max = 64u << 10;
inline constexpr std::uint32_t xenstore_data_length_max = 16u << 20;
inline constexpr std::uint32_t emulator_context_length_max = 128u << 20;   // REC_LENGTH_MAX

struct ReadOptions {
    // Every pfn in PAGE_DATA must be below this (the domain's maximum gpfn + 1).
    std::uint64_t pfn_limit = page_pfn_mask + 1;
    // A Remus/COLO stream: libxc CHECKPOINT (followed by libxl records up to CHECKPOINT_END)
    // and libxl CHECKPOINT_STATE are allowed. A save file or a plain migration has none, and
    // Xen's restore refuses them there.
    bool checkpointed = false;
    // HVM_CONTEXT blobs are checked with parse_hvm_context() (hvm_context.hpp), so that a
    // corrupt context is refused with its stream offset rather than by sethvmcontext later.
    bool check_hvm_context = true;
};

class LibxcReader {
public:
    explicit LibxcReader(StreamInput& in, ReadOptions opts = {}) : in_{&in}, opts_{opts} {}
    // The image and domain headers. Only little-endian x86 HVM streams with 4 KiB pages.
    StreamResult<LibxcHeader> read_header();
    // The next record, EndRecord last. After CheckpointRecord the caller reads the libxl
    // records of the checkpoint (when the stream is inside a libxl stream), then goes on here.
    StreamResult<LibxcRecord> next();
    [[nodiscard]] bool finished() const { return finished_; }

private:
    StreamInput* in_;
    ReadOptions opts_;
    std::uint32_t version_ = 0;
    bool finished_ = false;
    bool static_data_end_ = false;
    bool cpuid_ = false, msr_ = false, verify_ = false;
    bool hvm_context_ever_ = false;
    // Per checkpoint: one of each of these.
    bool tsc_ = false, hvm_context_ = false, hvm_params_ = false;
};

class LibxlReader {
public:
    explicit LibxlReader(StreamInput& in, ReadOptions opts = {}) : in_{&in}, opts_{opts} {}
    StreamResult<LibxlHeader> read_header();
    // The next record, EndRecord last. After LibxcContextRecord the caller reads the libxc
    // stream (a LibxcReader on the same StreamInput) before calling next() again.
    StreamResult<LibxlRecord> next();
    // The libxc stream reached CHECKPOINT: libxl records up to CHECKPOINT_END follow.
    void enter_checkpoint() { in_checkpoint_ = true; }
    [[nodiscard]] bool in_checkpoint() const { return in_checkpoint_; }
    [[nodiscard]] bool finished() const { return finished_; }

private:
    StreamInput* in_;
    ReadOptions opts_;
    bool header_ = false;
    bool libxc_context_ = false;
    bool in_checkpoint_ = false;
    bool finished_ = false;
};

// The xl save-file header and the config it carries. Only STREAMv2 save files (every xl
// since Xen 4.6) are accepted.
StreamResult<XlHeader> read_xl_header(StreamInput& in);

// Callbacks for a whole stream. Empty ones are skipped; an error from one stops the read and
// is returned as it is.
struct StreamVisitor {
    std::function<StreamResult<void>(LibxlRecord const&)> libxl;
    std::function<StreamResult<void>(LibxcHeader const&)> libxc_header;
    std::function<StreamResult<void>(LibxcRecord const&)> libxc;
};

// A libxl stream, with the libxc stream inside it, up to and including libxl's END.
StreamResult<void> read_libxl_stream(StreamInput& in, ReadOptions const& opts, StreamVisitor const& v);
// A save file: xl header, libxl stream, and nothing after END.
StreamResult<XlHeader> read_xl_save(StreamInput& in, ReadOptions const& opts, StreamVisitor const& v);

} // namespace kxen::toolstack::stream
