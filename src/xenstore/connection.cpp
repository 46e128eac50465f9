#include "xenstore/connection.hpp"

namespace kxen::xenstore {

void Connection::queue(MsgHeader const& hdr, std::string_view payload) {
    encode(out_, hdr.type, hdr.req_id, hdr.tx_id, payload);
    pending_.push_back(Pending{out_.size(), true, {}});
    ++replies_queued_;
}

void Connection::queue_event(std::string_view path, std::string_view token) {
    if (path.size() + token.size() + 2 > XENSTORE_PAYLOAD_MAX) return;
    std::string payload;
    payload.reserve(path.size() + token.size() + 2);
    payload.append(path).push_back('\0');
    payload.append(token).push_back('\0');
    bool special = !path.empty() && path[0] == '@';
    if (!special && !queued_events_.insert(payload).second) return;   // same event still queued
    encode(out_, XS_WATCH_EVENT, 0, 0, payload);
    pending_.push_back(Pending{out_.size(), false, special ? std::string{} : std::move(payload)});
}

void Connection::written(std::size_t n) {
    out_off_ += n;
    while (!pending_.empty() && pending_.front().end <= out_off_) {
        auto& p = pending_.front();
        if (p.reply) {
            --replies_queued_;
        } else if (!p.event.empty()) {
            queued_events_.erase(p.event);
        }
        pending_.pop_front();
    }
    if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
        pending_.clear();
    } else if (out_off_ > 65536 && out_off_ > out_.size() / 2) {
        out_.erase(0, out_off_);
        for (auto& p : pending_) p.end -= out_off_;
        out_off_ = 0;
    }
}

std::expected<void, TransportError> Connection::flush() {
    while (out_off_ < out_.size()) {
        auto n = transport_->write({out_.data() + out_off_, out_.size() - out_off_});
        if (!n) return std::unexpected(n.error());
        if (*n == 0) return {};
        written(*n);
    }
    return {};
}

Transaction* Connection::transaction(std::uint32_t id) {
    auto it = transactions_.find(id);
    return it == transactions_.end() ? nullptr : it->second.get();
}

Transaction& Connection::start_transaction() {
    // Pick an unused id, never 0 (which means "no transaction").
    while (next_tx_id_ == 0 || transactions_.contains(next_tx_id_)) ++next_tx_id_;
    std::uint32_t id = next_tx_id_++;
    return *transactions_.emplace(id, std::make_unique<Transaction>(id)).first->second;
}

void Connection::end_transaction(std::uint32_t id) { transactions_.erase(id); }

} // namespace kxen::xenstore
