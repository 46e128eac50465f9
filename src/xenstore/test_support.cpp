#include "xenstore/test_support.hpp"
#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace kxen::xenstore::test {

IoResult MemoryTransport::read(std::span<char> dst) {
    if (pipe_->to_server.empty())
        return pipe_->closed ? IoResult{std::unexpected(TransportError::closed)} : IoResult{0};
    std::size_t n = std::min({dst.size(), pipe_->to_server.size(), pipe_->read_limit});
    std::memcpy(dst.data(), pipe_->to_server.data(), n);
    pipe_->to_server.erase(0, n);
    return n;
}

IoResult MemoryTransport::write(std::span<char const> src) {
    if (pipe_->closed) return std::unexpected(TransportError::closed);
    std::size_t n = std::min(src.size(), pipe_->write_limit);
    pipe_->from_server.append(src.data(), n);
    return n;
}

std::string Reply::error() const {
    if (type != XS_ERROR) return {};
    return body.empty() ? std::string{} : std::string{body.c_str()};
}

std::vector<std::string> split(std::string_view body) {
    std::vector<std::string> out;
    std::size_t off = 0;
    while (off < body.size()) {
        auto nul = body.find('\0', off);
        if (nul == std::string_view::npos) nul = body.size();
        out.emplace_back(body.substr(off, nul - off));
        off = nul + 1;
    }
    return out;
}

std::string request(std::uint32_t type, std::uint32_t req_id, std::uint32_t tx,
                    std::string_view payload) {
    std::string s;
    encode(s, type, req_id, tx, payload);
    return s;
}

std::vector<Reply> parse_messages(std::string& bytes) {
    std::vector<Reply> out;
    std::size_t off = 0;
    while (bytes.size() - off >= header_size) {
        MsgHeader h = decode_header(bytes.data() + off);
        if (bytes.size() - off < header_size + h.len) break;
        out.push_back(Reply{h.type, h.req_id, h.tx_id, bytes.substr(off + header_size, h.len)});
        off += header_size + h.len;
    }
    bytes.erase(0, off);
    return out;
}

Client::Client(Server& s, Identity who) : server_{s}, pipe_{std::make_shared<Pipe>()} {
    serial_ = s.connect(std::make_unique<MemoryTransport>(pipe_), who).serial();
}

void Client::run() {
    // Each service() is one turn; the server comes back by itself for what a turn left over.
    // A wake-up with nothing to read and nothing to write would be a no-op turn: stop there.
    for (int i = 0; i < 8; ++i) {
        Connection* c = server_.find(serial_);
        if (!c || c->dead || (i > 0 && pipe_->to_server.empty() && c->out_bytes() == 0)) break;
        server_.service(*c);
        server_.flush();
    }
    for (int i = 0; i < 100000 && server_.has_pending_work(); ++i) server_.flush();
    parse();
}

void Client::parse() {
    for (auto& r : parse_messages(pipe_->from_server)) {
        if (r.type == XS_WATCH_EVENT) {
            auto parts = split(r.body);
            parts.resize(2);
            events_.emplace_back(parts[0], parts[1]);
        }
        replies_.push_back(std::move(r));
    }
}

void Client::send_raw(std::string_view bytes) {
    pipe_->to_server.append(bytes);
    run();
}

Reply Client::call(std::uint32_t type, std::string_view payload, std::uint32_t tx) {
    std::uint32_t id = next_req_++;
    send_raw(request(type, id, tx, payload));
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
        if (it->type != XS_WATCH_EVENT && it->req_id == id) {
            Reply r = std::move(*it);
            replies_.erase(it);
            return r;
        }
    }
    return Reply{XS_INVALID, id, tx, "no reply"};
}

std::vector<Reply> Client::replies() {
    std::vector<Reply> out(replies_.begin(), replies_.end());
    replies_.clear();
    return out;
}

std::uint32_t Client::start() {
    auto r = call(XS_TRANSACTION_START, args(""));
    if (!r.ok()) return 0;
    return static_cast<std::uint32_t>(std::stoul(r.body));
}

std::vector<std::pair<std::string, std::string>> Client::events() {
    parse();
    std::erase_if(replies_, [](Reply const& r) { return r.type == XS_WATCH_EVENT; });
    return std::exchange(events_, {});
}

std::size_t Guest::put(std::string_view bytes) {
    auto& p = s_->page;
    std::size_t done = 0;
    while (done < bytes.size() && p.req_prod - p.req_cons < XENSTORE_RING_SIZE) {
        p.req[MASK_XENSTORE_IDX(p.req_prod)] = bytes[done++];
        ++p.req_prod;
    }
    return done;
}

std::string Guest::take() {
    auto& p = s_->page;
    std::string out;
    if (p.rsp_prod - p.rsp_cons > XENSTORE_RING_SIZE) return out;   // a scribbled page
    while (p.rsp_cons != p.rsp_prod) {
        out.push_back(p.rsp[MASK_XENSTORE_IDX(p.rsp_cons)]);
        ++p.rsp_cons;
    }
    return out;
}

DomainPortFactory Ports::factory() {
    return [this](DomId id, std::uint64_t, std::uint32_t)
               -> std::expected<std::unique_ptr<DomainPort>, XsErr> {
        auto& shared = pages[id];
        if (!shared) shared = std::make_shared<MemoryPort::Shared>();
        return std::make_unique<MemoryPort>(shared);
    };
}

} // namespace kxen::xenstore::test
