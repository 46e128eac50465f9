// The software vCPU's loop: blocks of decoded instructions, exceptions and interrupts, exits.
#include "soft/cpu.hpp"
#include <cstring>
#include <fmt/format.h>
#include "common/log.hpp"
#include "soft/decode.hpp"
#include "soft/deliver.hpp"
#include "soft/exec.hpp"
#include "soft/regs.hpp"

namespace kxen::soft {
namespace {

constexpr std::uint64_t rflags_if = 1u << 9;
constexpr std::size_t run_bytes = 8192;       // kvm_run, then the port I/O data
constexpr std::uint32_t io_data_offset = 4096;
constexpr unsigned max_block_insns = 32;
// Blocks run back to back between checks for kicks, memory-map changes and interrupt windows.
constexpr unsigned blocks_per_check = 64;
constexpr unsigned epoch_blocks = 1024;

// Instructions after which a block ends because they transfer control (the rest of the block
// would rarely run) or change how the following bytes decode.
bool ends_block(Decoded const& d) {
    if (d.map == Map::one) {
        std::uint8_t const o = d.opcode;
        if ((o >= 0x70 && o <= 0x7f) || (o >= 0xe0 && o <= 0xe3) || (o >= 0xe8 && o <= 0xeb) ||
            o == 0xc2 || o == 0xc3 || (o >= 0xca && o <= 0xcf) || o == 0x9a || o == 0xf4)
            return true;
        return o == 0xff && d.has_modrm && d.reg_field() >= 2 && d.reg_field() <= 5;
    }
    if (d.map == Map::m0f) {
        std::uint8_t const o = d.opcode;
        return (o >= 0x80 && o <= 0x8f) || o == 0x05 || o == 0x07 || o == 0x34 || o == 0x35 || o == 0x01 ||
               o == 0x0b;
    }
    return false;
}

unsigned mode_of(CpuState const& s) { return (s.long_mode && s.cs_l ? 1u : 0u) | (s.cs_db ? 2u : 0u); }

void reset_state(CpuState& s) {
    s = {};
    s.rflags = 2;
    s.cr0 = 0x60000010;
    s.rip = 0xfff0;
    for (auto& g : s.seg) g = {0, 0xffff, 0, 0x93};
    s.seg[cs] = {0xffff0000, 0xffff, 0xf000, 0x9b};
    s.ldtr = {0, 0xffff, 0, 0x82};
    s.tr = {0, 0xffff, 0, 0x8b};
    s.gdtr = {0, 0xffff};
    s.idtr = {0, 0xffff};
    s.dr[6] = 0xffff0ff0;
    s.dr[7] = 0x400;
    s.mxcsr = 0x1f80;
    s.fcw = 0x37f;
    s.msr = Msrs{};
}

} // namespace

Cpu::Cpu(PhysMem& phys, unsigned id)
    : phys_{&phys}, id_{id}, mmu_{s_, phys}, run_mem_{new (std::align_val_t{4096}) std::uint8_t[run_bytes]()} {
    run_ = reinterpret_cast<kvm_run*>(run_mem_.get());
    reset_state(s_);
    mmu_.cpuid_table = &cpuid;
    phys_->attach(&sync_);
}

Cpu::~Cpu() { phys_->detach(&sync_); }

void Cpu::publish_regs() {
    auto& r = run_->s.regs.regs;
    auto const* g = s_.gpr;
    r.rax = g[rax]; r.rbx = g[rbx]; r.rcx = g[rcx]; r.rdx = g[rdx];
    r.rsi = g[rsi]; r.rdi = g[rdi]; r.rsp = g[rsp]; r.rbp = g[rbp];
    r.r8 = g[8]; r.r9 = g[9]; r.r10 = g[10]; r.r11 = g[11];
    r.r12 = g[12]; r.r13 = g[13]; r.r14 = g[14]; r.r15 = g[15];
    r.rip = s_.rip;
    r.rflags = s_.rflags;
    run_->if_flag = (s_.rflags & rflags_if) != 0;
    run_->ready_for_interrupt_injection = pending_irq_ < 0 && can_interrupt();
    run_->cr8 = s_.cr8;
    run_->apic_base = s_.msr.apic_base;
}

void Cpu::load_regs() {
    if (!(run_->kvm_dirty_regs & KVM_SYNC_X86_REGS)) return;
    run_->kvm_dirty_regs &= ~KVM_SYNC_X86_REGS;
    auto const& r = run_->s.regs.regs;
    auto* g = s_.gpr;
    g[rax] = r.rax; g[rbx] = r.rbx; g[rcx] = r.rcx; g[rdx] = r.rdx;
    g[rsi] = r.rsi; g[rdi] = r.rdi; g[rsp] = r.rsp; g[rbp] = r.rbp;
    g[8] = r.r8; g[9] = r.r9; g[10] = r.r10; g[11] = r.r11;
    g[12] = r.r12; g[13] = r.r13; g[14] = r.r14; g[15] = r.r15;
    s_.rip = r.rip;
    s_.rflags = r.rflags | 2;
}

bool Cpu::can_interrupt() const { return (s_.rflags & rflags_if) && !s_.interrupt_shadow; }

void Cpu::sync_phys() {
    std::uint64_t const gen = phys_->generation();
    if (sync_.seen.load(std::memory_order_relaxed) == gen) return;
    mmu_.set_table(phys_->table());
    sync_.seen.store(gen, std::memory_order_release);
}

void Cpu::complete_pending() {
    load_regs();
    Exit const e = pending_;
    pending_ = {};
    if (e.kind == ExitKind::none) return;
    bool advance = true;
    switch (e.kind) {
    case ExitKind::io:
        if (!e.write) {
            std::uint64_t v = 0;
            std::memcpy(&v, reinterpret_cast<std::uint8_t*>(run_) + io_data_offset, e.size);
            complete_in(s_, e.size, v);
        }
        break;
    case ExitKind::rdmsr:
        if (run_->msr.error) {
            advance = false;
            (void)fault(Fault{vec::gp, 0, 0, true});
        } else {
            s_.gpr[rax] = run_->msr.data & 0xffffffff;
            s_.gpr[rdx] = run_->msr.data >> 32;
        }
        break;
    case ExitKind::wrmsr:
        if (run_->msr.error) {
            advance = false;
            (void)fault(Fault{vec::gp, 0, 0, true});
        }
        break;
    case ExitKind::hypercall:
        if (run_->exit_reason == KVM_EXIT_XEN) s_.gpr[rax] = run_->xen.u.hcall.result;
        break;
    default:
        break;
    }
    if (advance) {
        s_.rip += pending_len_;
        if (!(s_.long_mode && s_.cs_l)) s_.rip &= s_.cs_db ? 0xffffffff : 0xffff;
        s_.rflags &= ~(1ull << 16);
    }
    publish_regs();
}

bool Cpu::run() {
    if (__atomic_exchange_n(&run_->immediate_exit, 0, __ATOMIC_ACQ_REL)) return false;
    sync_.in_run.store(true, std::memory_order_seq_cst);
    ++epoch_;
    complete_pending();
    bool exited = false;
    for (;;) {
        if (__atomic_load_n(&run_->immediate_exit, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_RELEASE);
            break;
        }
        sync_phys();
        if (pending_irq_ >= 0 && can_interrupt()) {
            auto const v = static_cast<std::uint8_t>(pending_irq_);
            pending_irq_ = -1;
            ++epoch_;
            mmu_.set_system(true);
            Delivered d = soft::interrupt(s_, mmu_, v);
            mmu_.set_system(false);
            if (d == Delivered::triple_fault) {
                run_->exit_reason = KVM_EXIT_SHUTDOWN;
                exited = true;
                break;
            }
        }
        if (run_->request_interrupt_window && pending_irq_ < 0 && can_interrupt()) {
            run_->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
            exited = true;
            break;
        }
        Flow st = Flow::next;
        bool limit = false;
        for (unsigned i = 0; i < blocks_per_check && st == Flow::next; ++i) {
            st = step_block();
            if (block_limit_ && --block_limit_ == 0) {
                limit = true;
                break;
            }
            if (++blocks_in_epoch_ >= epoch_blocks) {
                blocks_in_epoch_ = 0;
                ++epoch_;
            }
            // An interrupt that became deliverable (sti, iret, popf) is taken at once.
            if (can_interrupt() && (pending_irq_ >= 0 || run_->request_interrupt_window)) break;
        }
        if (st == Flow::exit) {
            exited = true;
            break;
        }
        if (limit) break;   // as a kick
    }
    publish_regs();
    sync_.in_run.store(false, std::memory_order_seq_cst);
    return exited;
}

Cpu::Flow Cpu::internal(std::string why) {
    internal_error_ = std::move(why);
    run_->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run_->internal.suberror = KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON;
    run_->internal.ndata = 0;
    return Flow::exit;
}

Cpu::Flow Cpu::fault(Fault f) {
    ++epoch_;
    if (f.vector == vec::pf) {
        f.error_code = mmu_.pf_error();
        f.address = mmu_.pf_addr();
        f.has_error_code = true;
    }
    mmu_.set_system(true);
    Delivered d = raise(s_, mmu_, f);
    mmu_.set_system(false);
    if (d == Delivered::triple_fault) {
        run_->exit_reason = KVM_EXIT_SHUTDOWN;
        return Flow::exit;
    }
    return Flow::next;
}

void Cpu::unsupported(std::uint8_t const* bytes, std::size_t len, std::uint64_t rip) {
    if (logged_ud_.size() < 1024 && logged_ud_.insert(rip).second)
        log::warn("vCPU {}: no such instruction here, #UD at rip {:#x}: {}", id_, rip,
                  describe({bytes, len}, s_.long_mode && s_.cs_l, s_.cs_db));
}

Cpu::Flow Cpu::exit_for(Exit const& e, std::uint64_t len) {
    pending_ = e;
    pending_len_ = len;
    switch (e.kind) {
    case ExitKind::hlt:
        pending_ = {};
        s_.rip += len;
        run_->exit_reason = KVM_EXIT_HLT;
        return Flow::exit;
    case ExitKind::io:
        run_->exit_reason = KVM_EXIT_IO;
        run_->io.direction = e.write ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
        run_->io.size = e.size;
        run_->io.port = e.port;
        run_->io.count = 1;
        run_->io.data_offset = io_data_offset;
        std::memcpy(reinterpret_cast<std::uint8_t*>(run_) + io_data_offset, &e.value, 8);
        return Flow::exit;
    case ExitKind::rdmsr:
    case ExitKind::wrmsr:
        run_->exit_reason = e.kind == ExitKind::rdmsr ? KVM_EXIT_X86_RDMSR : KVM_EXIT_X86_WRMSR;
        run_->msr.index = e.msr;
        run_->msr.data = e.value;
        run_->msr.error = 0;
        run_->msr.reason = KVM_MSR_EXIT_REASON_FILTER;
        return Flow::exit;
    case ExitKind::hypercall: {
        run_->exit_reason = KVM_EXIT_XEN;
        run_->xen.type = KVM_EXIT_XEN_HCALL;
        auto& h = run_->xen.u.hcall;
        bool const lm = s_.long_mode && s_.cs_l;
        h.longmode = lm;
        h.cpl = s_.cpl;
        auto const* g = s_.gpr;
        h.input = lm ? g[rax] : g[rax] & 0xffffffff;
        if (lm) {
            std::uint64_t const p[6] = {g[rdi], g[rsi], g[rdx], g[10], g[8], g[9]};
            std::memcpy(h.params, p, sizeof p);
        } else {
            std::uint64_t const p[6] = {g[rbx] & 0xffffffff, g[rcx] & 0xffffffff, g[rdx] & 0xffffffff,
                                        g[rsi] & 0xffffffff, g[rdi] & 0xffffffff, g[rbp] & 0xffffffff};
            std::memcpy(h.params, p, sizeof p);
        }
        h.result = 0;
        return Flow::exit;
    }
    case ExitKind::none:
        break;
    }
    pending_ = {};
    return internal("exit without a kind");
}

Cpu::Flow Cpu::one(Insn const& in, std::uint64_t rip) {
    bool const shadow = s_.interrupt_shadow;
    if (!in.row) {
        return fault(Fault{vec::ud, 0, 0, false});
    }
    soft::Step st = execute(in.d, *in.row, s_, mmu_);
    if (!in.row->in_place) ++epoch_;
    if (st) [[likely]] {
        ++retired_;
        if (shadow) s_.interrupt_shadow = false;
        return Flow::next;
    }
    Result const& r = st.error();
    switch (r.outcome) {
    case Outcome::done:
        break;
    case Outcome::fault:
        return fault(r.fault);
    case Outcome::unsupported:
        return fault(Fault{vec::ud, 0, 0, false});
    case Outcome::exit:
        ++retired_;
        if (shadow) s_.interrupt_shadow = false;
        return exit_for(r.exit, in.d.length);
    case Outcome::crash:
        return internal(fmt::format("{} at rip {:#x}", r.what, rip));
    }
    return Flow::next;
}

void Cpu::decode_block(Block& b, std::uint8_t const* host, std::uint64_t page_left, unsigned mode) {
    b.host = host;
    b.mode = mode;
    b.insns.clear();
    std::uint64_t off = 0;
    bool const long64 = mode & 1, db = mode & 2;
    while (b.insns.size() < max_block_insns && off < page_left) {
        Insn in{};
        auto const avail = std::min<std::uint64_t>(15, page_left - off);
        DecodeStatus st = decode_into({host + off, avail}, long64, db, in.d);
        if (st == DecodeStatus::truncated && avail < 15) break;   // crosses the page: slow path
        if (st != DecodeStatus::ok) {
            // Longer than 15 bytes: #GP at run time (a row-less entry with its own length).
            if (!b.insns.empty()) break;
            in.d = Decoded{};
            in.d.length = 15;
            in.row = nullptr;
            off += 15;
            in.end = static_cast<std::uint16_t>(off);
            b.insns.push_back(in);
            break;
        }
        in.row = find_row(in.d);
        off += in.d.length;
        in.end = static_cast<std::uint16_t>(off);
        b.insns.push_back(in);
        if (!in.row || !in.row->in_place || ends_block(in.d)) break;
    }
    b.bytes.assign(host, host + off);
}

Cpu::Block* Cpu::block_at(std::uint8_t const* host, std::uint64_t page_left, unsigned mode) {
    auto const key = reinterpret_cast<std::uintptr_t>(host);
    auto& slot = cache_[((key >> 1) ^ (key >> 13) ^ mode) & (cache_size - 1)];
    if (slot && slot->host == host && slot->mode == mode) {
        if (slot->checked == epoch_) return slot->insns.empty() ? nullptr : slot.get();
        if (slot->bytes.empty() || std::memcmp(slot->bytes.data(), host, slot->bytes.size()) == 0) {
            slot->checked = epoch_;
            return slot->insns.empty() ? nullptr : slot.get();
        }
    }
    if (!slot) slot = std::make_unique<Block>();
    decode_block(*slot, host, page_left, mode);
    slot->checked = epoch_;
    mmu_.add_code_page(reinterpret_cast<std::uint8_t const*>(reinterpret_cast<std::uintptr_t>(host) & ~std::uintptr_t{0xfff}));
    return slot->insns.empty() ? nullptr : slot.get();
}

Cpu::Flow Cpu::step_block() {
    bool const long64 = s_.long_mode && s_.cs_l;
    std::uint64_t const lin = long64 ? s_.rip : (s_.seg[cs].base + s_.rip) & 0xffffffff;
    std::uint8_t* host = mmu_.lookup(lin, Mmu::Access::fetch);
    if (!host) {
        auto w = mmu_.translate(lin, Mmu::Access::fetch);
        if (!w.host && w.ram) return fault(Fault{vec::pf, w.error, lin, true});
        if (!w.host) return internal(fmt::format("instruction fetch outside RAM at rip {:#x} (gpa {:#x})", s_.rip, w.gpa));
        host = w.host;
    }
    std::uint64_t const page_left = 4096 - (lin & 0xfff);
    unsigned const mode = mode_of(s_);
    Block* b = block_at(host, page_left, mode);
    if (!b) {
        // An instruction that crosses into the next page: fetched through the MMU each time.
        std::uint8_t bytes[15];
        std::size_t n = 0;
        Insn in{};
        for (;;) {
            auto st = decode_into({bytes, n}, long64, s_.cs_db, in.d);
            if (st == DecodeStatus::ok) break;
            if (st == DecodeStatus::too_long || n == sizeof bytes) return fault(Fault{vec::gp, 0, 0, true});
            std::uint64_t a = long64 ? lin + n : (lin + n) & 0xffffffff;
            if (!mmu_.fetch(a, &bytes[n], 1)) return fault(Fault{vec::pf, 0, a, true});
            ++n;
        }
        in.row = find_row(in.d);
        if (!in.row) unsupported(bytes, in.d.length, s_.rip);
        return one(in, s_.rip);
    }
    std::uint64_t const start = s_.rip;
    std::uint64_t prev = 0;
    for (Insn const& in : b->insns) {
        if (!in.row) unsupported(b->host + prev, in.d.length ? in.d.length : 1, s_.rip);
        Flow st = one(in, s_.rip);
        if (st != Flow::next) return st;
        if (mmu_.code_written()) {
            // It stored to a page with cached code, maybe this block's: compare before reuse.
            mmu_.clear_code_written();
            ++epoch_;
            break;
        }
        // Left the block (a jump, a fault delivered, a rep re-run), or opened the window for a
        // pending interrupt (sti, popf, the end of a shadow): the interrupt comes before the
        // next instruction, not at the end of the block.
        if (s_.rip != ((start + in.end) & (long64 ? ~0ull : s_.cs_db ? 0xffffffffull : 0xffffull)) ||
            (pending_irq_ >= 0 && can_interrupt()))
            break;
        prev = in.end;
    }
    return Flow::next;
}

} // namespace kxen::soft
