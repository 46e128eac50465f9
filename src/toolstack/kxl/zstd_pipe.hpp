// zstd on a migration's wire (`kxl migrate --zstd`): the whole v2 stream is one zstd frame, so
// the stream itself stays Xen's and the frame's end is where the handshake resumes.
#pragma once
#include <zstd.h>
#include <expected>
#include <memory>
#include <string>
#include <vector>
#include "toolstack/stream/io.hpp"

namespace kxen::kxl {

class ZstdSink {
public:
    // Compresses into `out` at a fast level: pages that do not compress cost little.
    explicit ZstdSink(toolstack::stream::ByteSink out, int level = 1);
    ZstdSink(ZstdSink const&) = delete;
    ZstdSink& operator=(ZstdSink const&) = delete;
    // The sink to write the stream to; valid while this object lives.
    toolstack::stream::ByteSink sink();
    // Ends the frame; nothing may be written after.
    std::expected<void, std::string> finish();
    [[nodiscard]] std::uint64_t bytes_in() const { return in_; }
    [[nodiscard]] std::uint64_t bytes_out() const { return out_bytes_; }

private:
    std::expected<void, std::string> push(std::span<std::byte const> data, ZSTD_EndDirective mode);
    toolstack::stream::ByteSink out_;
    std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx_;
    std::vector<std::byte> buf_;
    std::uint64_t in_ = 0, out_bytes_ = 0;
};

class ZstdSource final : public toolstack::stream::ByteSource {
public:
    explicit ZstdSource(toolstack::stream::ByteSource& in);
    std::expected<std::size_t, std::string> read(std::span<std::byte> buf) override;

private:
    toolstack::stream::ByteSource* in_;
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx_;
    std::vector<std::byte> buf_;
    ZSTD_inBuffer pending_{nullptr, 0, 0};
    bool frame_done_ = false;
};

} // namespace kxen::kxl
