// Writers for xl's save-file header, the libxl stream and the libxc stream. Each call writes
// one header or record, framed and padded as the specs say, to a StreamOutput. Arguments that
// would make a record the reader (or Xen) refuses are refused here, before any byte is written.
//
// An xl save file or a migration stream, in order:
//   write_xl_header   (save files and `xl migrate` only)
//   LibxlWriter::header, LibxlWriter::libxc_context
//   LibxcWriter::header, its records ..., LibxcWriter::end
//   LibxlWriter records (emulator data) ..., LibxlWriter::end
#pragma once
#include "toolstack/stream/format.hpp"
#include "toolstack/stream/io.hpp"
#include "toolstack/stream/stream_error.hpp"

#include <initializer_list>
#include <span>

namespace kxen::toolstack::stream {

StreamResult<void> write_xl_header(StreamOutput& out, XlHeader const& hdr);

class LibxlWriter {
public:
    explicit LibxlWriter(StreamOutput& out) : out_{&out} {}
    StreamResult<void> header(LibxlHeader const& hdr = {});
    // Marks where the libxc stream starts; write it next with a LibxcWriter on the same output.
    StreamResult<void> libxc_context();
    StreamResult<void> emulator_xenstore_data(EmulatorXenstoreDataRecord const& rec);
    StreamResult<void> emulator_context(EmulatorId emulator, std::uint32_t index,
                                        std::span<std::byte const> blob);
    StreamResult<void> checkpoint_end();
    StreamResult<void> checkpoint_state(std::uint32_t id);
    StreamResult<void> end();
    // Any record, e.g. an optional one; the body is padded here.
    StreamResult<void> record(std::uint32_t type, std::span<std::byte const> body);

private:
    StreamOutput* out_;
};

class LibxcWriter {
public:
    explicit LibxcWriter(StreamOutput& out) : out_{&out} {}
    // The image header (big-endian, little-endian option) and the domain header.
    StreamResult<void> header(LibxcHeader const& hdr = {});
    // One batch of at most page_batch_max pages: `data` holds page_size bytes for each entry
    // whose type has data, in order.
    StreamResult<void> page_data(std::span<PageEntry const> pages, std::span<std::byte const> data);
    StreamResult<void> tsc_info(TscInfoRecord const& tsc);
    StreamResult<void> hvm_context(std::span<std::byte const> blob);
    StreamResult<void> hvm_params(std::span<HvmParam const> params);
    StreamResult<void> cpuid_policy(std::span<CpuidLeaf const> leaves);
    StreamResult<void> msr_policy(std::span<MsrEntry const> msrs);
    StreamResult<void> static_data_end();
    StreamResult<void> checkpoint();
    StreamResult<void> verify();
    StreamResult<void> end();
    StreamResult<void> record(std::uint32_t type, std::span<std::byte const> body);

private:
    StreamResult<void> write(std::uint32_t type, std::initializer_list<std::span<std::byte const>> parts);
    StreamOutput* out_;
};

} // namespace kxen::toolstack::stream
