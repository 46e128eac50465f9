#include "xenstore/watch.hpp"
#include <algorithm>

namespace kxen::xenstore {

XsResult<void> Watches::add(Connection& conn, std::string path, std::string token,
                            std::uint32_t prefix_len) {
    auto& list = by_path_[path];
    for (auto const& w : list)
        if (w.conn == &conn && w.token == token) return xs_fail(XsErr::exist);
    by_conn_[&conn].emplace_back(path, token);
    list.push_back(Watch{&conn, std::move(path), std::move(token), prefix_len});
    ++total_;
    return {};
}

XsResult<void> Watches::remove(Connection& conn, std::string_view path, std::string_view token) {
    auto it = by_path_.find(path);
    if (it == by_path_.end()) return xs_fail(XsErr::noent);
    auto& list = it->second;
    auto w = std::find_if(list.begin(), list.end(),
                          [&](Watch const& x) { return x.conn == &conn && x.token == token; });
    if (w == list.end()) return xs_fail(XsErr::noent);
    list.erase(w);
    if (list.empty()) by_path_.erase(it);
    auto& mine = by_conn_[&conn];
    auto m = std::find_if(mine.begin(), mine.end(),
                          [&](auto const& pt) { return pt.first == path && pt.second == token; });
    if (m != mine.end()) mine.erase(m);
    if (mine.empty()) by_conn_.erase(&conn);
    --total_;
    return {};
}

void Watches::remove_all(Connection& conn) {
    auto mine = by_conn_.find(&conn);
    if (mine == by_conn_.end()) return;
    for (auto const& [path, token] : mine->second) {
        auto it = by_path_.find(path);
        if (it == by_path_.end()) continue;
        std::erase_if(it->second, [&](Watch const& w) { return w.conn == &conn; });
        if (it->second.empty()) by_path_.erase(it);
    }
    total_ -= mine->second.size();
    by_conn_.erase(mine);
}

std::size_t Watches::count(Connection const& conn) const {
    auto it = by_conn_.find(&conn);
    return it == by_conn_.end() ? 0 : it->second.size();
}

std::vector<Watch const*> Watches::of(Connection const& conn) const {
    std::vector<Watch const*> out;
    auto mine = by_conn_.find(&conn);
    if (mine == by_conn_.end()) return out;
    for (auto const& [path, token] : mine->second) {
        auto it = by_path_.find(path);
        if (it == by_path_.end()) continue;
        for (auto const& w : it->second)
            if (w.conn == &conn && w.token == token) out.push_back(&w);
    }
    return out;
}

} // namespace kxen::xenstore
