// XlCfg: the settings of an xl.cfg file, and typed access to them with xl's rules.
#include "toolstack/xl_cfg.hpp"
#include "toolstack/xl_cfg_lex.hpp"
#include "common/read_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace kxen::toolstack {
namespace {

// Type errors point at the value, where the fix goes.
CfgError at_value(CfgSetting const& s, std::string message) {
    return CfgError{s.source, s.value.line, s.value.column, std::move(message)};
}

char const* kind_name(CfgValue::Kind k) {
    switch (k) {
    case CfgValue::Kind::string: return "a string";
    case CfgValue::Kind::number: return "a number";
    case CfgValue::Kind::list: return "a list";
    }
    return "?";
}

// xl keeps numbers as strings and runs strtol() on either; accept a sign in a quoted
// string for the same reason ("-1" reaches the caller's range check, not a type error).
std::optional<std::int64_t> integer_of(CfgValue const& v) {
    if (v.is_list()) return std::nullopt;
    std::string_view t = v.text;
    bool negative = false;
    if (v.kind == CfgValue::Kind::string && !t.empty() && (t[0] == '-' || t[0] == '+')) {
        negative = t[0] == '-';
        t.remove_prefix(1);
    }
    auto n = cfg_detail::parse_c_integer(t);
    if (!n) return std::nullopt;
    return negative ? -*n : *n;
}

} // namespace

std::string CfgError::to_string() const {
    if (line <= 0) return fmt::format("{}: {}", file, message);
    return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

CfgSetting const* XlCfg::find(std::string_view key) const {
    auto it = last_.find(key);
    return it == last_.end() ? nullptr : &settings_[it->second];
}

auto XlCfg::add(CfgSetting s) -> std::expected<void, CfgError> {
    // `KEY += VALUE` concatenates onto the earlier value, as xlu__cfg_concat_vals does;
    // with no earlier value it is a plain setting that remembers it was an append.
    if (s.append) {
        if (auto const* prev = find(s.key)) {
            CfgValue const& old = prev->value;
            if (old.is_list() != s.value.is_list())
                return std::unexpected(at_value(s, fmt::format(
                    "'{}' += {} cannot extend {} (set at {}:{})", s.key,
                    kind_name(s.value.kind), kind_name(old.kind), prev->source, prev->line)));
            if (old.is_list()) {
                s.value.items.insert(s.value.items.begin(), old.items.begin(), old.items.end());
            } else {
                s.value.text = old.text + s.value.text;
                if (old.kind == CfgValue::Kind::string) s.value.kind = CfgValue::Kind::string;
            }
        }
    }
    auto [it, fresh] = last_.try_emplace(s.key, settings_.size());
    if (fresh) keys_.push_back(s.key);
    else it->second = settings_.size();
    settings_.push_back(std::move(s));
    return {};
}

auto XlCfg::get_string(std::string_view key) const
    -> std::expected<std::optional<std::string>, CfgError> {
    auto const* s = find(key);
    if (!s) return std::nullopt;
    if (s->value.is_list())
        return std::unexpected(at_value(*s, fmt::format("'{}' must be a single value, not a list", key)));
    return s->value.text;
}

auto XlCfg::get_integer(std::string_view key) const
    -> std::expected<std::optional<std::int64_t>, CfgError> {
    auto const* s = find(key);
    if (!s) return std::nullopt;
    // xl refuses += for numbers: "64" += "1" would silently become 641.
    if (s->append)
        return std::unexpected(at_value(*s, fmt::format("'{}' is a number: '+=' cannot be used with it", key)));
    auto n = integer_of(s->value);
    if (!n) return std::unexpected(at_value(*s, fmt::format("'{}' must be a number", key)));
    return *n;
}

auto XlCfg::get_bool(std::string_view key) const -> std::expected<std::optional<bool>, CfgError> {
    auto const* s = find(key);
    if (!s) return std::nullopt;
    auto n = s->append ? std::nullopt : integer_of(s->value);
    if (!n) return std::unexpected(at_value(*s, fmt::format("'{}' must be 0 or 1", key)));
    return *n != 0;
}

auto XlCfg::get_list(std::string_view key) const
    -> std::expected<std::optional<std::vector<CfgValue>>, CfgError> {
    auto const* s = find(key);
    if (!s) return std::nullopt;
    if (!s->value.is_list())
        return std::unexpected(at_value(*s, fmt::format("'{}' must be a list [ ... ]", key)));
    return s->value.items;
}

auto XlCfg::get_string_list(std::string_view key) const
    -> std::expected<std::optional<std::vector<std::string>>, CfgError> {
    auto items = get_list(key);
    if (!items) return std::unexpected(items.error());
    if (!*items) return std::nullopt;
    std::vector<std::string> out;
    for (auto const& item : **items) {
        if (item.is_list())
            return std::unexpected(CfgError{find(key)->source, item.line, item.column,
                fmt::format("items of '{}' must be strings, not lists", key)});
        out.push_back(item.text);
    }
    return out;
}

auto XlCfg::apply_overrides(std::span<std::string const> args) -> std::expected<void, CfgError> {
    std::string const source{command_line_source};
    int n = 1;
    for (auto const& arg : args)
        if (auto r = parse_more(arg, source, n++); !r) return r;
    return {};
}

std::string quote_cfg_string(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        auto const u = static_cast<unsigned char>(c);
        if (c == '\'' || c == '\\') out += {'\\', c};
        else if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return out + "'";
}

auto load_xl_cfg(std::filesystem::path const& path) -> std::expected<XlCfg, CfgError> {
    std::string const name = path.string();
    auto fail = [&](std::string why) {
        return std::unexpected(CfgError{name, 0, 0, std::move(why)});
    };
    auto bytes = read_regular_file(name, max_config_bytes);
    if (!bytes) return fail(fmt::format("cannot read config file: {}", bytes.error().message));
    std::string_view text{reinterpret_cast<char const*>(bytes->data()), bytes->size()};
    return parse_xl_cfg(text, name);
}

} // namespace kxen::toolstack
