#include "xenstore/connection.hpp"
#include <algorithm>
#include <functional>

namespace kxen::xenstore {

namespace {

// Buffers bigger than this are given back once empty; smaller ones are kept for the next burst.
constexpr std::size_t keep_capacity = 64 * 1024;

std::uint64_t event_key(std::string_view payload) {
    // Never 0, which marks "not indexed".
    return std::hash<std::string_view>{}(payload) | 1;
}

} // namespace

void Connection::queue(MsgHeader const& hdr, std::string_view payload) {
    encode(out_, hdr.type, hdr.req_id, hdr.tx_id, payload);
    pending_.push_back(Pending{base_ + out_.size(), 0, static_cast<std::uint32_t>(payload.size()), true});
    pending_peak_ = std::max(pending_peak_, pending_.size());
    ++replies_queued_;
}

void Connection::EventIndex::grow() {
    std::size_t n = slots_.empty() ? 16 : 2 * slots_.size();
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(n));
    for (auto const& s : old)
        if (s.key) {
            std::size_t i = home(s.key);
            while (slots_[i].key) i = (i + 1) & mask();
            slots_[i] = s;
        }
}

void Connection::EventIndex::insert(std::uint64_t key, std::uint64_t start) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    std::size_t i = home(key);
    while (slots_[i].key) i = (i + 1) & mask();
    slots_[i] = Slot{key, start};
    ++size_;
}

void Connection::EventIndex::erase(std::uint64_t key, std::uint64_t start) {
    if (slots_.empty()) return;
    std::size_t i = home(key);
    for (; slots_[i].key; i = (i + 1) & mask())
        if (slots_[i].key == key && slots_[i].start == start) break;
    if (!slots_[i].key) return;
    // Backward-shift deletion: no tombstones, so probes stay short however long it lives.
    for (std::size_t j = (i + 1) & mask(); slots_[j].key; j = (j + 1) & mask()) {
        std::size_t h = home(slots_[j].key);
        // Move j into the hole at i unless its home lies cyclically in (i, j].
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (stays) continue;
        slots_[i] = slots_[j];
        i = j;
    }
    slots_[i] = Slot{};
    --size_;
}

std::size_t Connection::out_memory_after(std::size_t bytes) const {
    std::size_t need = out_.size() + bytes;
    std::size_t cap = out_.capacity();
    // std::string grows to at least twice its capacity.
    if (need > cap) cap = std::max(need, 2 * cap);
    std::size_t index = queued_events_.bytes();
    if (bytes && 2 * (queued_events_.size() + 1) > index / sizeof(EventIndex::Slot))
        index = std::max<std::size_t>(16 * sizeof(EventIndex::Slot), 2 * index);
    return cap + (pending_.size() + (bytes ? 1 : 0)) * pending_cost + index;
}

std::size_t Connection::out_memory() const { return out_memory_after(0); }

bool Connection::duplicate(std::uint64_t key, std::string_view payload) const {
    return queued_events_.any(key, [&](std::uint64_t start) {
        // Only messages not yet started count: a partly written one may be compacted away.
        if (start < base_ + out_off_ + header_size) return false;
        std::size_t at = static_cast<std::size_t>(start - base_);
        MsgHeader h = decode_header(out_.data() + at - header_size);
        return std::string_view{out_.data() + at, h.len} == payload;
    });
}

Connection::EventQueued Connection::queue_event(std::string_view path, std::string_view token,
                                                std::size_t max_events, std::size_t max_bytes) {
    std::size_t len = path.size() + token.size() + 2;
    if (len > XENSTORE_PAYLOAD_MAX) return EventQueued::too_long;
    bool special = !path.empty() && path[0] == '@';
    if (out_memory_after(header_size + len) > max_bytes || events_queued_ >= max_events) {
        // Over the limits, unless it is a duplicate, which costs nothing.
        if (special) return EventQueued::over_limit;
        std::string payload;
        payload.reserve(len);
        payload.append(path).push_back('\0');
        payload.append(token).push_back('\0');
        return duplicate(event_key(payload), payload) ? EventQueued::duplicate
                                                      : EventQueued::over_limit;
    }
    // Built where it goes and taken back if it is a duplicate: no copy per event of a fan-out.
    std::size_t old = out_.size();
    MsgHeader h{XS_WATCH_EVENT, 0, 0, static_cast<std::uint32_t>(len)};
    out_.append(reinterpret_cast<char const*>(&h), sizeof h);   // SAFETY: POD, 16 bytes
    out_.append(path).push_back('\0');
    out_.append(token).push_back('\0');
    std::uint64_t start = base_ + old + header_size;
    std::uint64_t key = 0;
    if (!special) {
        std::string_view payload{out_.data() + old + header_size, len};
        key = event_key(payload);
        if (duplicate(key, payload)) {
            out_.resize(old);
            return EventQueued::duplicate;
        }
        queued_events_.insert(key, start);
    }
    pending_.push_back(Pending{base_ + out_.size(), key, static_cast<std::uint32_t>(len), false});
    pending_peak_ = std::max(pending_peak_, pending_.size());
    ++events_queued_;
    return EventQueued::yes;
}

void Connection::unindex(Pending const& p) { queued_events_.erase(p.key, p.start()); }

void Connection::written(std::size_t n) {
    out_off_ += n;
    std::uint64_t done = base_ + out_off_;
    while (!pending_.empty() && pending_.front().end <= done) {
        auto& p = pending_.front();
        if (p.reply) {
            --replies_queued_;
        } else {
            --events_queued_;
            if (p.key) unindex(p);
        }
        pending_.pop_front();
    }
    if (out_off_ == out_.size()) {
        base_ += out_.size();
        out_off_ = 0;
        if (out_.capacity() > keep_capacity) {
            released_ += out_.capacity();
            std::string{}.swap(out_);
        } else {
            out_.clear();
        }
        if (queued_events_.size() == 0 && queued_events_.bytes() > keep_capacity / 4) {
            released_ += queued_events_.bytes();
            queued_events_.release();
        }
        if (pending_peak_ > keep_capacity / sizeof(Pending)) {
            // The deque keeps its map of blocks however far it grew.
            released_ += pending_peak_ * sizeof(Pending);
            decltype(pending_){}.swap(pending_);
        }
        pending_peak_ = 0;
    } else if (out_off_ > keep_capacity && out_off_ > out_.size() / 2) {
        out_.erase(0, out_off_);
        base_ += out_off_;
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
