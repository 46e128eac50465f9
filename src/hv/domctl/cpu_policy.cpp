#include "hv/domctl/cpu_policy.hpp"
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/guest_access.hpp"
#include "hv/vcpu/cpuid.hpp"
#include "hv/vcpu/vcpu.hpp"

namespace kxen::hv {
namespace {

bool indexed(std::uint32_t leaf) { return leaf == 0x4 || leaf == 0x7 || leaf == 0xb || leaf == 0xd; }

// The feature words of a leaf: a mask per register (a, b, c, d) of bits that say "the CPU
// has X". Those must stay within what kxend offers; the rest (vendor, topology, sizes) the
// toolstack may set.
std::array<std::uint32_t, 4> feature_bits(std::uint32_t leaf, std::uint32_t subleaf) {
    // HTT (leaf 1 EDX 28) and CMP_LEGACY (0x80000001 ECX 1) describe topology, which the
    // toolstack lays out (libxc's legacy topology sets both).
    if (leaf == 0x1) return {0, 0, ~0u, ~(1u << 28)};
    if (leaf == 0x80000001) return {0, 0, ~(1u << 1), ~0u};
    if (leaf == 0x7 && subleaf == 0) return {0, ~0u, ~0u, ~0u};
    if (leaf == 0x7 && subleaf == 1) return {~0u, 0, 0, 0};
    if (leaf == 0xd && subleaf == 1) return {~0u, 0, 0, 0};
    if (leaf == 0x80000007) return {0, 0, 0, ~0u};
    if (leaf == 0x80000008) return {0, ~0u, 0, 0};
    return {0, 0, 0, 0};
}

} // namespace

std::vector<xen_cpuid_leaf_t> policy_leaves(std::vector<kvm_cpuid_entry2> const& table) {
    auto find = [&](std::uint32_t leaf, std::uint32_t sub) {
        for (auto const& e : table)
            if (e.function == leaf && (!indexed(leaf) || e.index == sub)) return xen_cpuid_leaf_t{leaf, indexed(leaf) ? sub : XEN_CPUID_NO_SUBLEAF, e.eax, e.ebx, e.ecx, e.edx};
        return xen_cpuid_leaf_t{leaf, indexed(leaf) ? sub : XEN_CPUID_NO_SUBLEAF, 0, 0, 0, 0};
    };
    // The leaves in the order and number libx86's x86_cpuid_copy_to_buffer writes them, so a
    // caller that serialises the policy again fits it in the room this took.
    std::vector<xen_cpuid_leaf_t> out;
    auto max_basic = std::min<std::uint32_t>(find(0, 0).a, 0xd);
    for (std::uint32_t leaf = 0; leaf <= max_basic; ++leaf) {
        switch (leaf) {
        case 0x4:
            for (std::uint32_t sub = 0; sub < 6; ++sub) {
                out.push_back(find(leaf, sub));
                if ((out.back().a & 0x1f) == 0) break;   // cache type 0: no more caches
            }
            break;
        case 0x7:
            for (std::uint32_t sub = 0; sub <= std::min<std::uint32_t>(find(7, 0).a, 2); ++sub) out.push_back(find(leaf, sub));
            break;
        case 0xb:
            for (std::uint32_t sub = 0; sub < 2; ++sub) {
                out.push_back(find(leaf, sub));
                if (((out.back().c >> 8) & 0xff) == 0) break;   // level type 0: the last level
            }
            break;
        case 0xd: {
            auto x0 = find(0xd, 0), x1 = find(0xd, 1);
            std::uint64_t xstates = (x0.a | (std::uint64_t{x0.d} << 32)) | (x1.c | (std::uint64_t{x1.d} << 32));
            out.push_back(x0);
            out.push_back(x1);
            std::uint32_t sub = 2;
            for (xstates >>= 2; xstates && sub < 63; xstates >>= 1, ++sub) out.push_back(find(leaf, sub));
            break;
        }
        default: out.push_back(find(leaf, 0));
        }
    }
    // Xen's own leaves' limits (0: Xen's default); the leaves themselves are not in a policy.
    out.push_back({0x40000000, XEN_CPUID_NO_SUBLEAF, 0, 0, 0, 0});
    out.push_back({0x40000100, XEN_CPUID_NO_SUBLEAF, 0, 0, 0, 0});
    auto max_extd = find(0x80000000, 0).a;
    if (max_extd >= 0x80000000)
        for (std::uint32_t leaf = 0; leaf <= std::min<std::uint32_t>(max_extd & 0xffff, 0x21); ++leaf)
            out.push_back(find(0x80000000 | leaf, 0));
    return out;
}

std::vector<std::uint32_t> featureset(std::vector<kvm_cpuid_entry2> const& table) {
    struct Word {
        std::uint32_t leaf, subleaf;
        int reg;   // 0 eax .. 3 edx; -1: an MSR's word (none described here)
    };
    static constexpr Word words[] = {
        {0x1, 0, 3},        {0x1, 0, 2},  {0x80000001, 0, 3}, {0x80000001, 0, 2}, {0xd, 1, 0},
        {0x7, 0, 1},        {0x7, 0, 2},  {0x80000007, 0, 3}, {0x80000008, 0, 1}, {0x7, 0, 3},
        {0x7, 1, 0},        {0x80000021, 0, 0}, {0x7, 1, 1}, {0x7, 2, 3},        {0x7, 1, 2},
        {0x7, 1, 3},        {0, 0, -1},   {0, 0, -1},         {0x80000021, 0, 2},
    };
    std::vector<std::uint32_t> out;
    for (auto const& w : words) {
        std::uint32_t v = 0;
        if (w.reg >= 0)
            for (auto const& e : table)
                if (e.function == w.leaf && (!indexed(w.leaf) || e.index == w.subleaf)) {
                    std::uint32_t const r[4] = {e.eax, e.ebx, e.ecx, e.edx};
                    v = r[w.reg];
                }
        out.push_back(v);
    }
    return out;
}

XenResult<void> copy_policy_out(GuestAccess& mem, std::vector<xen_cpuid_leaf_t> const& leaves, std::uint64_t at,
                                std::uint32_t& nr) {
    if (at == 0) {
        nr = max_policy_leaves;
        return {};
    }
    if (nr < leaves.size()) return xen_fail(XenErr::nobufs);
    for (std::size_t i = 0; i < leaves.size(); ++i)
        if (!mem.copy_to(at + i * sizeof(xen_cpuid_leaf_t), leaves[i])) return xen_fail(XenErr::fault);
    nr = static_cast<std::uint32_t>(leaves.size());
    return {};
}

XenResult<void> set_cpu_policy(Domain& d, std::span<xen_cpuid_leaf_t const> leaves, std::uint32_t& err_leaf,
                               std::uint32_t& err_subleaf) {
    if (!d.paused()) return xen_fail(XenErr::busy);
    for (std::uint32_t i = 0; i < d.max_vcpus(); ++i)
        if (d.vcpu(i)->up) return xen_fail(XenErr::exist);   // Xen: only before the domain runs
    auto const& supported = d.hv().accel().supported_cpuid();
    auto offered = policy_leaves(guest_cpuid(supported, 0));
    for (auto const& l : leaves) {
        auto mask = feature_bits(l.leaf, l.subleaf);
        std::array<std::uint32_t, 4> ours{};
        for (auto const& o : offered)
            if (o.leaf == l.leaf && o.subleaf == l.subleaf) ours = {o.a, o.b, o.c, o.d};
        std::array<std::uint32_t, 4> want{l.a, l.b, l.c, l.d};
        for (int r = 0; r < 4; ++r)
            if (want[r] & mask[r] & ~ours[r]) {
                log::warn("d{}: CPUID policy refused: leaf {:#x}:{:#x} register {} asks for bits {:#x} kxend does not offer",
                          d.id(), l.leaf, l.subleaf, "abcd"[r], want[r] & mask[r] & ~ours[r]);
                err_leaf = l.leaf;
                err_subleaf = l.subleaf;
                return xen_fail(XenErr::inval);
            }
    }
    for (std::uint32_t i = 0; i < d.max_vcpus(); ++i) {
        auto table = guest_cpuid(supported, i);
        for (auto& e : table) {
            std::uint32_t sub = indexed(e.function) ? e.index : XEN_CPUID_NO_SUBLEAF;
            // Xen's leaves are kxend's to say (a policy only carries their limits).
            if ((e.function & 0xffff0000u) == 0x40000000u) continue;
            for (auto const& l : leaves) {
                if (l.leaf != e.function || l.subleaf != sub) continue;
                auto apic = e.ebx & 0xff000000u, x2apic = e.edx;
                e.eax = l.a;
                e.ebx = l.b;
                e.ecx = l.c;
                e.edx = l.d;
                // Each vCPU keeps its own APIC id (leaf 1 EBX[31:24], leaf 0xb EDX).
                if (e.function == 0x1) e.ebx = (e.ebx & 0x00ffffffu) | apic;
                if (e.function == 0xb) e.edx = x2apic;
            }
        }
        if (auto r = d.vcpu(i)->cpu().set_cpuid(table); !r) {
            log::warn("d{}: CPUID policy: {}", d.id(), r.error().message());
            return xen_fail(XenErr::inval);
        }
    }
    d.cpu_policy.assign(leaves.begin(), leaves.end());
    return {};
}

} // namespace kxen::hv
