// The xl.cfg lexer. Follows libxlu_cfg_l.l, with two deliberate differences: a number is
// checked here (xl only notices `memory = 12abc` when it reads the key), and keys may use
// upper case (xl's lexer takes [a-z][_0-9a-z]*; every key xl knows is lower case anyway).
#include "toolstack/xl_cfg_lex.hpp"

#include <fmt/format.h>

#include <limits>

namespace kxen::toolstack::cfg_detail {
namespace {

bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A byte as it may be shown in a message: printable ASCII as itself, the rest as hex.
std::string show_byte(char c) {
    auto const u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f) return fmt::format("'{}'", c);
    return fmt::format("byte 0x{:02x}", u);
}

} // namespace

std::optional<std::int64_t> parse_c_integer(std::string_view text) {
    unsigned base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    } else if (text.size() > 1 && text[0] == '0') {
        base = 8;
        text.remove_prefix(1);
    }
    if (text.empty()) return std::nullopt;
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::uint64_t v = 0;
    for (char c : text) {
        int const d = hex_value(c);
        if (d < 0 || static_cast<unsigned>(d) >= base) return std::nullopt;
        if (v > (max - static_cast<unsigned>(d)) / base) return std::nullopt;  // would overflow
        v = v * base + static_cast<unsigned>(d);
    }
    return static_cast<std::int64_t>(v);
}

std::string describe(Token const& t) {
    using K = Token::Kind;
    switch (t.kind) {
    case K::ident: return fmt::format("'{}'", t.text);
    case K::number: return fmt::format("'{}'", t.text);
    case K::string: return "a string";
    case K::assign: return "'='";
    case K::append: return "'+='";
    case K::comma: return "','";
    case K::lbracket: return "'['";
    case K::rbracket: return "']'";
    case K::semicolon: return "';'";
    case K::newline: return "end of line";
    case K::end: return "end of input";
    }
    return "?";
}

auto Lexer::next() -> std::expected<Token, CfgError> {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\r')) ++pos_;
    if (!at_end() && peek() == '#')                 // a comment runs to the end of the line
        while (!at_end() && peek() != '\n') ++pos_;

    Token t;
    t.line = line_;
    t.column = column();
    if (at_end()) { t.kind = Token::Kind::end; return t; }

    char const c = peek();
    auto single = [&](Token::Kind k) { ++pos_; t.kind = k; return t; };
    switch (c) {
    case '\n':
        ++pos_;
        ++line_;
        line_start_ = pos_;
        t.kind = Token::Kind::newline;
        return t;
    case '=': return single(Token::Kind::assign);
    case ',': return single(Token::Kind::comma);
    case '[': return single(Token::Kind::lbracket);
    case ']': return single(Token::Kind::rbracket);
    case ';': return single(Token::Kind::semicolon);
    case '"':
    case '\'': return lex_string(std::move(t));
    case '+':
        if (peek(1) == '=') { pos_ += 2; t.kind = Token::Kind::append; return t; }
        break;
    default: break;
    }
    if (is_ident_start(c)) {
        auto const start = pos_;
        while (!at_end() && is_ident_char(peek())) ++pos_;
        t.kind = Token::Kind::ident;
        t.text = std::string(text_.substr(start, pos_ - start));
        return t;
    }
    if (is_digit(c)) return lex_number(std::move(t));

    // xl prints the same hint when it meets these: old xm configs were Python.
    bool const pythonish = std::string_view{"+-.():"}.find(c) != std::string_view::npos;
    return std::unexpected(error(t.line, t.column,
        fmt::format("unexpected {}{}", show_byte(c),
                    pythonish ? " (xl.cfg is not Python: values are \"strings\", numbers or [lists])"
                              : "")));
}

auto Lexer::lex_number(Token t) -> std::expected<Token, CfgError> {
    auto const start = pos_;
    // Take the whole word, so `12abc` is one bad number rather than `12` then junk.
    while (!at_end() && is_ident_char(peek())) ++pos_;
    t.kind = Token::Kind::number;
    t.text = std::string(text_.substr(start, pos_ - start));
    if (!parse_c_integer(t.text)) {
        bool const octal = t.text.size() > 1 && t.text[0] == '0' &&
                           t.text[1] != 'x' && t.text[1] != 'X';
        return std::unexpected(error(t.line, t.column,
            fmt::format("bad number '{}'{}", t.text,
                        octal ? " (a leading 0 means octal, as in C)" : "")));
    }
    return t;
}

auto Lexer::lex_string(Token t) -> std::expected<Token, CfgError> {
    char const quote = peek();
    ++pos_;
    t.kind = Token::Kind::string;
    while (true) {
        // Like xl, a string cannot span lines: a newline means the quote was never closed.
        if (at_end() || peek() == '\n')
            return std::unexpected(error(t.line, t.column,
                fmt::format("unterminated string (no closing {})", quote)));
        char const c = peek();
        if (c == quote) { ++pos_; return t; }
        if (c == '\0')
            return std::unexpected(error(line_, column(), "NUL byte in string"));
        if (c == '\\') {
            if (auto r = lex_escape(t.text); !r) return std::unexpected(r.error());
            continue;
        }
        t.text.push_back(c);
        ++pos_;
    }
}

// The escapes of libxlu's xlu__cfgl_dequote: \" \' \\ \a \b \f \n \r \t \v, \xHH and \OOO.
// NUL is refused: a string with a NUL in it would be cut short by every C consumer.
auto Lexer::lex_escape(std::string& out) -> std::expected<void, CfgError> {
    int const col = column();
    ++pos_;                                          // the backslash
    if (at_end() || peek() == '\n')
        return std::unexpected(error(line_, col, "backslash at end of line in string"));
    char const e = peek();
    ++pos_;
    switch (e) {
    case '"': case '\'': case '\\': out.push_back(e); return {};
    case 'a': out.push_back('\a'); return {};
    case 'b': out.push_back('\b'); return {};
    case 'f': out.push_back('\f'); return {};
    case 'n': out.push_back('\n'); return {};
    case 'r': out.push_back('\r'); return {};
    case 't': out.push_back('\t'); return {};
    case 'v': out.push_back('\v'); return {};
    default: break;
    }
    unsigned value = 0;
    if (e == 'x') {
        int digits = 0;
        for (; digits < 2 && hex_value(peek()) >= 0; ++digits, ++pos_)
            value = value * 16 + static_cast<unsigned>(hex_value(peek()));
        if (digits == 0)
            return std::unexpected(error(line_, col, "\\x needs hex digits in string"));
    } else if (e >= '0' && e <= '7') {
        value = static_cast<unsigned>(e - '0');
        for (int digits = 1; digits < 3 && peek() >= '0' && peek() <= '7'; ++digits, ++pos_)
            value = value * 8 + static_cast<unsigned>(peek() - '0');
        if (value > 0xff)
            return std::unexpected(error(line_, col, "octal escape above \\377 in string"));
    } else {
        return std::unexpected(error(line_, col,
            fmt::format("invalid escape '\\{}' in string", e)));
    }
    if (value == 0)
        return std::unexpected(error(line_, col, "NUL character escape in string"));
    out.push_back(static_cast<char>(value));
    return {};
}

} // namespace kxen::toolstack::cfg_detail
