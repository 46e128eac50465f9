// The xl.cfg grammar, as libxlu_cfg_y.y has it:
//   file    := { NEWLINE | ';' | setting end }
//   setting := KEY ('=' | '+=') value
//   end     := NEWLINE | ';' | end of input
//   value   := STRING | NUMBER | '[' nl* [ value nl* { ',' nl* value nl* } [ ',' nl* ] ] ']'
// xl reports every bad line and carries on; we stop at the first error, which is enough
// for a person fixing the file and keeps the error a single value.
#include "toolstack/xl_cfg.hpp"
#include "toolstack/xl_cfg_lex.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace kxen::toolstack {
namespace {

using cfg_detail::describe;
using cfg_detail::Lexer;
using cfg_detail::Token;
using K = Token::Kind;

// Deep nesting only comes from hostile input; stop before it can exhaust the stack.
constexpr int max_list_depth = 64;

class Parser {
public:
    Parser(XlCfg& cfg, std::string_view text, std::string const& source, int first_line)
        : cfg_{cfg}, lex_{text, source, first_line}, source_{source} {}

    auto run() -> std::expected<void, CfgError> {
        if (auto r = advance(); !r) return r;
        while (tok_.kind != K::end) {
            if (tok_.kind == K::newline || tok_.kind == K::semicolon) {
                if (auto r = advance(); !r) return r;
                continue;
            }
            if (auto r = setting(); !r) return r;
        }
        return {};
    }

private:
    auto advance() -> std::expected<void, CfgError> {
        auto t = lex_.next();
        if (!t) return std::unexpected(t.error());
        tok_ = std::move(*t);
        return {};
    }
    auto skip_newlines() -> std::expected<void, CfgError> {
        while (tok_.kind == K::newline)
            if (auto r = advance(); !r) return r;
        return {};
    }
    [[nodiscard]] CfgError error_here(std::string message) const {
        return lex_.error(tok_.line, tok_.column, std::move(message));
    }

    auto setting() -> std::expected<void, CfgError> {
        if (tok_.kind != K::ident)
            return std::unexpected(error_here(
                fmt::format("expected a setting name, found {}", describe(tok_))));
        CfgSetting s;
        s.key = tok_.text;
        s.source = source_;
        s.line = tok_.line;
        s.column = tok_.column;
        if (auto r = advance(); !r) return r;
        if (tok_.kind != K::assign && tok_.kind != K::append)
            return std::unexpected(error_here(
                fmt::format("expected '=' after '{}', found {}", s.key, describe(tok_))));
        s.append = tok_.kind == K::append;
        if (auto r = advance(); !r) return r;
        auto v = value(s.key, 0);
        if (!v) return std::unexpected(v.error());
        s.value = std::move(*v);
        if (tok_.kind != K::newline && tok_.kind != K::semicolon && tok_.kind != K::end)
            return std::unexpected(error_here(fmt::format(
                "unexpected {} after the value of '{}' (settings end at a newline or ';')",
                describe(tok_), s.key)));
        return cfg_.add(std::move(s));
    }

    auto value(std::string const& key, int depth) -> std::expected<CfgValue, CfgError> {
        CfgValue v;
        v.line = tok_.line;
        v.column = tok_.column;
        switch (tok_.kind) {
        case K::string:
        case K::number:
            v.kind = tok_.kind == K::string ? CfgValue::Kind::string : CfgValue::Kind::number;
            v.text = std::move(tok_.text);
            if (auto r = advance(); !r) return std::unexpected(r.error());
            return v;
        case K::lbracket:
            if (depth >= max_list_depth)
                return std::unexpected(error_here("lists nested too deeply"));
            return list(key, std::move(v), depth + 1);
        case K::newline:
        case K::semicolon:
        case K::end:
            return std::unexpected(error_here(fmt::format("missing value for '{}'", key)));
        default:
            return std::unexpected(error_here(
                fmt::format("expected a value for '{}', found {}", key, describe(tok_))));
        }
    }

    auto list(std::string const& key, CfgValue v, int depth) -> std::expected<CfgValue, CfgError> {
        v.kind = CfgValue::Kind::list;
        auto unterminated = [&] {
            return std::unexpected(lex_.error(v.line, v.column, fmt::format(
                "unterminated list for '{}': no ']' before end of input", key)));
        };
        if (auto r = advance(); !r) return std::unexpected(r.error());   // the '['
        if (auto r = skip_newlines(); !r) return std::unexpected(r.error());
        while (tok_.kind != K::rbracket) {
            if (tok_.kind == K::end) return unterminated();
            if (tok_.kind != K::string && tok_.kind != K::number && tok_.kind != K::lbracket)
                return std::unexpected(error_here(fmt::format(
                    "expected a list item for '{}', found {}", key, describe(tok_))));
            auto item = value(key, depth);
            if (!item) return std::unexpected(item.error());
            v.items.push_back(std::move(*item));
            if (auto r = skip_newlines(); !r) return std::unexpected(r.error());
            if (tok_.kind == K::comma) {
                if (auto r = advance(); !r) return std::unexpected(r.error());
                if (auto r = skip_newlines(); !r) return std::unexpected(r.error());
                continue;   // a ']' next is a trailing comma, which xl allows
            }
            if (tok_.kind == K::end) return unterminated();
            if (tok_.kind != K::rbracket)
                return std::unexpected(error_here(fmt::format(
                    "expected ',' or ']' in the list for '{}', found {}", key, describe(tok_))));
        }
        if (auto r = advance(); !r) return std::unexpected(r.error());   // the ']'
        return v;
    }

    XlCfg& cfg_;
    Lexer lex_;
    std::string const& source_;
    Token tok_;
};

} // namespace

auto XlCfg::parse_more(std::string_view text, std::string const& source, int first_line)
    -> std::expected<void, CfgError> {
    // At most one setting per line (or per ';'): reserving that bound up front keeps a config
    // of 100,000 settings from being moved and rehashed as it grows.
    auto const bound = settings_.size() + 1 + static_cast<std::size_t>(std::count_if(
        text.begin(), text.end(), [](char c) { return c == '\n' || c == ';'; }));
    if (bound > settings_.capacity()) {
        // Geometric, so many small parse_more calls (one per override) stay linear too.
        settings_.reserve(std::max(bound, 2 * settings_.capacity()));
        last_.reserve(settings_.capacity());
    }
    return Parser{*this, text, source, first_line}.run();
}

auto parse_xl_cfg(std::string_view text, std::string filename) -> std::expected<XlCfg, CfgError> {
    XlCfg cfg{std::move(filename)};
    if (auto r = cfg.parse_more(text, cfg.filename()); !r) return std::unexpected(r.error());
    return cfg;
}

} // namespace kxen::toolstack
