// kxen::toolstack::cfg_detail: the xl.cfg lexer (internal to xl_cfg*; what libxlu_cfg_l.l is
// to xl). Tokens carry the 1-based line and byte column where they start.
#pragma once
#include "toolstack/xl_cfg.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace kxen::toolstack::cfg_detail {

struct Token {
    enum class Kind { ident, number, string, assign, append, comma, lbracket, rbracket,
                      semicolon, newline, end };
    Kind kind = Kind::end;
    std::string text;   // identifier, number as written, or the unescaped string
    int line = 0;
    int column = 0;
};

// How a token is named in an error message: "'memory'", "'='", "end of line", ...
std::string describe(Token const& t);

// A number as xl reads it (strtol base 0): decimal, 0x hex, or 0-prefixed octal, no sign,
// fitting in int64. nullopt when `text` is anything else.
std::optional<std::int64_t> parse_c_integer(std::string_view text);

class Lexer {
public:
    Lexer(std::string_view text, std::string source, int first_line)
        : text_{text}, source_{std::move(source)}, line_{first_line} {}

    auto next() -> std::expected<Token, CfgError>;

    // An error at a given position of this input.
    [[nodiscard]] CfgError error(int line, int column, std::string message) const {
        return CfgError{source_, line, column, std::move(message)};
    }

private:
    [[nodiscard]] bool at_end() const { return pos_ >= text_.size(); }
    [[nodiscard]] char peek(std::size_t ahead = 0) const {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }
    [[nodiscard]] int column() const { return static_cast<int>(pos_ - line_start_) + 1; }

    auto lex_number(Token t) -> std::expected<Token, CfgError>;
    auto lex_string(Token t) -> std::expected<Token, CfgError>;
    auto lex_escape(std::string& out) -> std::expected<void, CfgError>;

    std::string_view text_;
    std::string source_;
    std::size_t pos_ = 0;
    std::size_t line_start_ = 0;   // offset of the current line's first byte
    int line_;
};

} // namespace kxen::toolstack::cfg_detail
