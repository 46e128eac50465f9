#include "toolstack/kxl/zstd_pipe.hpp"
#include <fmt/format.h>

namespace kxen::kxl {

ZstdSink::ZstdSink(toolstack::stream::ByteSink out, int level)
    : out_{std::move(out)}, cctx_{ZSTD_createCCtx(), ZSTD_freeCCtx}, buf_(ZSTD_CStreamOutSize()) {
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, level);
}

toolstack::stream::ByteSink ZstdSink::sink() {
    return [this](std::span<std::byte const> data) { return push(data, ZSTD_e_continue); };
}

std::expected<void, std::string> ZstdSink::finish() { return push({}, ZSTD_e_end); }

std::expected<void, std::string> ZstdSink::push(std::span<std::byte const> data, ZSTD_EndDirective mode) {
    in_ += data.size();
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (true) {
        ZSTD_outBuffer out{buf_.data(), buf_.size(), 0};
        auto left = ZSTD_compressStream2(cctx_.get(), &out, &in, mode);
        if (ZSTD_isError(left)) return std::unexpected(fmt::format("zstd: {}", ZSTD_getErrorName(left)));
        if (out.pos) {
            out_bytes_ += out.pos;
            if (auto r = out_(std::span{buf_.data(), out.pos}); !r) return r;
        }
        bool const done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
        if (done) return {};
    }
}

ZstdSource::ZstdSource(toolstack::stream::ByteSource& in)
    : in_{&in}, dctx_{ZSTD_createDCtx(), ZSTD_freeDCtx}, buf_(ZSTD_DStreamInSize()) {}

std::expected<std::size_t, std::string> ZstdSource::read(std::span<std::byte> dst) {
    if (frame_done_ || dst.empty()) return 0;
    ZSTD_outBuffer out{dst.data(), dst.size(), 0};
    while (out.pos == 0) {
        if (pending_.pos == pending_.size) {
            // Read no further than the frame needs: what follows it is the handshake.
            auto want = ZSTD_decompressStream(dctx_.get(), &out, &pending_);
            if (ZSTD_isError(want)) return std::unexpected(fmt::format("zstd: {}", ZSTD_getErrorName(want)));
            if (out.pos) break;
            auto n = in_->read(std::span{buf_.data(), std::min(buf_.size(), want ? want : buf_.size())});
            if (!n) return std::unexpected(n.error());
            if (*n == 0) return std::unexpected("zstd: the compressed stream ends inside its frame");
            pending_ = ZSTD_inBuffer{buf_.data(), *n, 0};
        }
        auto left = ZSTD_decompressStream(dctx_.get(), &out, &pending_);
        if (ZSTD_isError(left)) return std::unexpected(fmt::format("zstd: {}", ZSTD_getErrorName(left)));
        if (left == 0) {
            frame_done_ = true;
            break;
        }
    }
    return out.pos;
}

} // namespace kxen::kxl
