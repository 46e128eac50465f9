#include "fmt.hpp"

#include <stdint.h>

#include "lib.hpp"

namespace minios::fmt {
namespace {

struct Out {
    char* buf;
    size_t cap;
    size_t len = 0;
    void put(char c) {
        if (len + 1 < cap) buf[len] = c;
        ++len;
    }
    void pad(size_t n, char c) {
        while (n--) put(c);
    }
};

void put_number(Out& o, uint64_t v, bool neg, unsigned base, bool upper, unsigned width, bool zero, bool left) {
    char tmp[24];
    size_t n = 0;
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    size_t total = n + (neg ? 1 : 0);
    size_t fill = width > total ? width - total : 0;
    if (!left && !zero) o.pad(fill, ' ');
    if (neg) o.put('-');
    if (!left && zero) o.pad(fill, '0');
    while (n) o.put(tmp[--n]);
    if (left) o.pad(fill, ' ');
}

}  // namespace

size_t vformat(char* buf, size_t cap, const char* f, va_list ap) {
    Out o{buf, cap};
    while (*f) {
        if (*f != '%') {
            o.put(*f++);
            continue;
        }
        ++f;
        bool left = false, zero = false;
        for (;; ++f) {
            if (*f == '-') left = true;
            else if (*f == '0') zero = true;
            else break;
        }
        unsigned width = 0;
        while (*f >= '0' && *f <= '9') width = width * 10 + unsigned(*f++ - '0');
        size_t prec = SIZE_MAX;
        if (*f == '.') {
            ++f;
            if (*f == '*') {
                prec = size_t(va_arg(ap, int));
                ++f;
            } else {
                prec = 0;
                while (*f >= '0' && *f <= '9') prec = prec * 10 + size_t(*f++ - '0');
            }
        }
        int lng = 0;  // 0 int, 1 long, 2 long long/size_t
        while (*f == 'l' || *f == 'z' || *f == 'h') {
            if (*f == 'l') ++lng;
            if (*f == 'z') lng = 2;
            ++f;
        }
        char c = *f ? *f++ : '\0';
        switch (c) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            bool neg = v < 0;
            put_number(o, neg ? 0 - uint64_t(v) : uint64_t(v), neg, 10, false, width, zero, left);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_number(o, v, false, c == 'u' ? 10 : 16, c == 'X', width, zero, left);
            break;
        }
        case 'p':
            o.put('0');
            o.put('x');
            put_number(o, uint64_t(va_arg(ap, void*)), false, 16, false, width, zero, left);
            break;
        case 'c':
            o.put(char(va_arg(ap, int)));
            break;
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (!s) s = "(null)";
            size_t n = lib::strnlen(s, prec);
            size_t fill = width > n ? width - n : 0;
            if (!left) o.pad(fill, ' ');
            for (size_t i = 0; i < n; ++i) o.put(s[i]);
            if (left) o.pad(fill, ' ');
            break;
        }
        case '%':
            o.put('%');
            break;
        default:
            o.put('%');
            if (c) o.put(c);
        }
    }
    if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len < cap ? o.len : (cap ? cap - 1 : 0);
}

size_t format(char* buf, size_t cap, const char* f, ...) {
    va_list ap;
    va_start(ap, f);
    size_t n = vformat(buf, cap, f, ap);
    va_end(ap);
    return n;
}

}  // namespace minios::fmt
