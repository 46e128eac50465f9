#include "trap.hpp"

#include "console.hpp"
#include "sched.hpp"
#include "sys.hpp"

extern "C" {
extern uint64_t r0_ctx[7];  // entry.S: saved by ring0_dispatch; [6] = rsp, nonzero while armed
extern uint8_t ring0_recover[];
}

namespace minios::trap {

constinit Fault last_fault{};

namespace {

constinit bool dying = false;

const char* name(uint64_t v) {
    static constexpr const char* names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF",
                                            "#TS", "#NP", "#SS", "#GP", "#PF", "?",   "#MF", "#AC", "#MC", "#XM",
                                            "#VE", "#CP"};
    return v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

}  // namespace

}  // namespace minios::trap

extern "C" void trap_entry(minios::trap::Frame* f) {
    using namespace minios;
    uint64_t cr2 = x86::read_cr2();
    // A fault inside sys::ring0: unwind to its caller with a fault code. Not for a
    // double fault, whose saved state cannot be trusted.
    if ((f->cs & 3) == 0 && r0_ctx[6] && f->vector != 8) {
        trap::last_fault = {f->vector, f->error, f->rip, cr2};
        f->rip = uint64_t(ring0_recover);
        f->rax = sys::faulted(unsigned(f->vector));
        return;
    }
    if (trap::dying) sched::finish(sched::Done::crash);  // faulted while reporting
    trap::dying = true;
    console::println("minios: fatal exception %lu (%s) in ring %lu: rip 0x%lx err 0x%lx cr2 0x%lx rsp 0x%lx rflags 0x%lx",
                     f->vector, trap::name(f->vector), f->cs & 3, f->rip, f->error, cr2, f->rsp, f->rflags);
    console::println("minios:   rax %lx rbx %lx rcx %lx rdx %lx rsi %lx rdi %lx rbp %lx", f->rax, f->rbx, f->rcx,
                     f->rdx, f->rsi, f->rdi, f->rbp);
    console::println("minios:   r8 %lx r9 %lx r10 %lx r11 %lx r12 %lx r13 %lx r14 %lx r15 %lx", f->r8, f->r9, f->r10,
                     f->r11, f->r12, f->r13, f->r14, f->r15);
    sched::finish(sched::Done::crash);
}
