// kxen::soft::Cpu: the software vCPU. Runs guest x86 code with the instruction semantics of
// src/soft (decoded once into blocks, cached by host address, checked against the bytes in
// guest memory before each run so that any writer's changes to code are seen), delivers
// exceptions and interrupts, and stops with KVM's exits in a kvm_run.
#pragma once
#include <linux/kvm.h>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>
#include "soft/emulate.hpp"
#include "soft/mmu.hpp"
#include "soft/phys.hpp"
#include "soft/table.hpp"

namespace kxen::soft {

class Cpu {
public:
    Cpu(PhysMem& phys, unsigned id);
    ~Cpu();
    Cpu(Cpu const&) = delete;
    Cpu& operator=(Cpu const&) = delete;

    // Run until an exit (true, kvm_run says which) or a kick (false).
    bool run();
    // From any thread: make run() return at its next block boundary.
    void kick() { __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_RELEASE); }
    // After n more blocks, run() returns false as if kicked (0: no limit). For tests and fuzzing,
    // where a guest that loops must still give the thread back, at the same point every time.
    void set_block_limit(std::uint64_t n) { block_limit_ = n; }
    // Finish the instruction of the last exit without running on.
    void complete_pending();
    // Queue an external interrupt (delivered when IF allows).
    void interrupt(std::uint8_t vector) { pending_irq_ = vector; }

    [[nodiscard]] kvm_run* run_state() { return run_; }
    CpuState& state() { return s_; }
    Mmu& mmu() { return mmu_; }
    // GPRs between CpuState and kvm_run's sync area.
    void publish_regs();
    void load_regs();
    // Why the last KVM_EXIT_INTERNAL_ERROR was raised.
    [[nodiscard]] std::string const& internal_error() const { return internal_error_; }
    // The CPUID table (KVM_SET_CPUID2).
    std::vector<kvm_cpuid_entry2> cpuid;
    [[nodiscard]] std::uint64_t instructions() const { return retired_; }

private:
    struct Insn {
        Decoded d;
        Row const* row;          // null: no such instruction here (#UD)
        std::uint16_t end;       // offset of the next instruction within the block
    };
    struct Block {
        std::uint8_t const* host = nullptr;
        unsigned mode = 0;
        std::vector<std::uint8_t> bytes;   // what the block was decoded from
        std::vector<Insn> insns;
        std::uint64_t checked = 0;         // the epoch in which bytes last matched memory
    };
    static constexpr std::size_t cache_size = 4096;

    enum class Flow { next, exit };
    Flow step_block();
    Flow one(Insn const& in, std::uint64_t rip);
    Flow fault(Fault f);
    Flow exit_for(Exit const& e, std::uint64_t len);
    Flow internal(std::string why);
    Block* block_at(std::uint8_t const* host, std::uint64_t page_left, unsigned mode);
    void decode_block(Block& b, std::uint8_t const* host, std::uint64_t page_left, unsigned mode);
    bool can_interrupt() const;
    void sync_phys();
    void unsupported(std::uint8_t const* bytes, std::size_t len, std::uint64_t rip);

    PhysMem* phys_;
    unsigned id_;
    CpuState s_{};
    Mmu mmu_;
    VcpuSync sync_;
    // Allocated page-aligned, so freed with the matching aligned delete.
    struct AlignedDelete {
        void operator()(std::uint8_t* p) const { ::operator delete[](p, std::align_val_t{4096}); }
    };
    std::unique_ptr<std::uint8_t[], AlignedDelete> run_mem_;
    kvm_run* run_;
    std::unique_ptr<Block> cache_[cache_size];
    // A block whose bytes matched memory in this epoch runs without comparing them again. The
    // epoch moves whenever code may have changed under it: a store by this vCPU to a page
    // holding cached code (the MMU sees every one), entry to run() (kxend or dom0 may have
    // written guest memory meanwhile), a serializing or system instruction, an exception or
    // interrupt (how another vCPU's code changes must be made visible, SDM vol. 3, 8.1.3),
    // and every epoch_blocks blocks regardless.
    std::uint64_t epoch_ = 1;
    unsigned blocks_in_epoch_ = 0;
    int pending_irq_ = -1;
    // The exit whose instruction still has to complete, and that instruction's length.
    Exit pending_{};
    std::uint64_t pending_len_ = 0;
    std::string internal_error_;
    std::unordered_set<std::uint64_t> logged_ud_;
    std::uint64_t retired_ = 0;
    std::uint64_t block_limit_ = 0;
};

} // namespace kxen::soft
