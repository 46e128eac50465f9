#include "toolstack/kxl/domain_save.hpp"
#include <unistd.h>
#include <algorithm>
#include <cstring>
#include <thread>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xen/domctl.h>
#include <xen/hvm/params.h>
#include <xen/hvm/save.h>
#include <xen/sched.h>
#include "toolstack/build/pvh.hpp"
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/stream/reader.hpp"
#include "toolstack/stream/writer.hpp"
#include "toolstack/xl_cfg.hpp"

namespace kxen::kxl {
namespace st = toolstack::stream;
namespace build = toolstack::build;
using clock_type = std::chrono::steady_clock;

namespace {

std::string xen_err(char const* step, XenErr e) { return fmt::format("{}: {}", step, privcmd::xen_strerror(e)); }

double ms_since(clock_type::time_point t) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

bool cancelled(Cancel const* c) { return c && c->requested(); }

// The HVM params libxc's x86 HVM saver sends (xg_sr_save_x86_hvm.c), where they are non-zero.
constexpr std::uint32_t saved_params[] = {
    HVM_PARAM_STORE_PFN,      HVM_PARAM_IOREQ_PFN,           HVM_PARAM_BUFIOREQ_PFN,
    HVM_PARAM_PAGING_RING_PFN, HVM_PARAM_MONITOR_RING_PFN,   HVM_PARAM_SHARING_RING_PFN,
    HVM_PARAM_VM86_TSS_SIZED, HVM_PARAM_CONSOLE_PFN,         HVM_PARAM_ACPI_IOPORTS_LOCATION,
    HVM_PARAM_VIRIDIAN,       HVM_PARAM_IDENT_PT,            HVM_PARAM_VM_GENERATION_ID_ADDR,
    HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES, HVM_PARAM_X87_FIP_WIDTH,
    HVM_PARAM_MCA_CAP,
};

// The CPUID the guest sees, as kxend holds it for the domain (XEN_DOMCTL_get_cpu_policy), as
// libxc's saver sends it: the receiver loads it, and Xen's refuses bits its host cannot offer.
std::expected<std::vector<st::CpuidLeaf>, std::string> cpuid_policy(privcmd::Client& c, std::uint16_t domid) {
    auto leaves = c.cpuid_policy(domid);
    if (!leaves) return std::unexpected(xen_err("CPUID policy", leaves.error()));
    std::vector<st::CpuidLeaf> out;
    for (auto const& l : *leaves) out.push_back({l.leaf, l.subleaf, l.a, l.b, l.c, l.d});
    return out;
}

// Guest RAM for reading, mapped once per run of present frames.
class SourcePages {
public:
    std::expected<void, std::string> map(privcmd::Client& c, std::uint16_t domid) {
        auto max = c.max_gpfn(domid);
        if (!max) return std::unexpected(xen_err("maximum gpfn", max.error()));
        max_pfn_ = *max;
        std::vector<xen_pfn_t> batch;
        for (std::uint64_t base = 0; base <= *max; base += st::page_batch_max) {
            batch.clear();
            for (std::uint64_t p = base; p <= *max && p < base + st::page_batch_max; ++p) batch.push_back(p);
            if (auto r = c.page_types(domid, batch); !r) return std::unexpected(xen_err("page types", r.error()));
            for (std::size_t i = 0; i < batch.size(); ++i)
                if ((batch[i] & XEN_DOMCTL_PFINFO_LTAB_MASK) != XEN_DOMCTL_PFINFO_XTAB) present_.push_back(base + i);
        }
        // Map each contiguous run; a run spread over several pool extents is mapped in parts.
        for (std::size_t i = 0; i < present_.size();) {
            std::size_t j = i + 1;
            while (j < present_.size() && present_[j] == present_[j - 1] + 1) ++j;
            if (auto r = map_run(c, domid, present_[i], j - i); !r) return r;
            i = j;
        }
        return {};
    }
    [[nodiscard]] std::vector<std::uint64_t> const& present() const { return present_; }
    [[nodiscard]] std::uint64_t max_pfn() const { return max_pfn_; }
    // A page never written since it was populated: a hole in the pool, zero, not worth reading.
    [[nodiscard]] bool hole(std::uint64_t pfn) const {
        auto it = std::upper_bound(runs_.begin(), runs_.end(), pfn,
                                   [](std::uint64_t p, Run const& r) { return p < r.pfn; });
        if (it == runs_.begin()) return false;
        --it;
        auto i = pfn - it->pfn;
        return i < it->holes.size() && it->holes[i];
    }
    [[nodiscard]] std::byte const* page(std::uint64_t pfn) const {
        auto it = std::upper_bound(runs_.begin(), runs_.end(), pfn,
                                   [](std::uint64_t p, Run const& r) { return p < r.pfn; });
        if (it == runs_.begin()) return nullptr;
        --it;
        if (pfn >= it->pfn + it->count) return nullptr;
        return it->map.map.data() + ((pfn - it->pfn) << 12);
    }

private:
    struct Run {
        std::uint64_t pfn, count;
        privcmd::ForeignMap map;
        std::vector<bool> holes;   // per page; empty if unknown
    };
    static std::vector<bool> find_holes(privcmd::Client& c, std::uint16_t domid, std::uint64_t pfn, std::uint64_t count) {
        auto pr = c.pool_range(domid, pfn, count);
        if (!pr) return {};
        std::vector<bool> holes(count, true);
        auto const start = static_cast<off_t>(pr->offset), end = start + static_cast<off_t>(count << 12);
        for (off_t pos = start; pos < end;) {
            off_t data = ::lseek(pr->fd.raw(), pos, SEEK_DATA);
            if (data < 0 || data >= end) break;
            off_t hole = ::lseek(pr->fd.raw(), data, SEEK_HOLE);
            if (hole < 0) return {};
            for (off_t p = data & ~off_t{4095}; p < std::min(hole, end); p += 4096) holes[static_cast<std::size_t>((p - start) >> 12)] = false;
            pos = hole;
        }
        return holes;
    }
    std::expected<void, std::string> map_run(privcmd::Client& c, std::uint16_t domid, std::uint64_t pfn,
                                             std::uint64_t count) {
        if (auto m = c.map_foreign(domid, pfn, count, true)) {
            runs_.push_back({pfn, count, std::move(*m), find_holes(c, domid, pfn, count)});
            return {};
        }
        if (count == 1) return std::unexpected(fmt::format("cannot map guest frame {:#x}", pfn));
        auto half = count / 2;
        if (auto r = map_run(c, domid, pfn, half); !r) return r;
        return map_run(c, domid, pfn + half, count - half);
    }
    std::vector<std::uint64_t> present_;
    std::vector<Run> runs_;   // ascending pfn
    std::uint64_t max_pfn_ = 0;
};

bool all_zero(std::byte const* p) {
    static constexpr std::byte zero[4096]{};
    return std::memcmp(p, zero, sizeof zero) == 0;
}

class Saver {
public:
    Saver(privcmd::Client& c, xs::Handle* store, std::uint16_t domid, st::ByteSink sink, SaveOptions const& o)
        : c_{c}, store_{store}, domid_{domid}, out_{std::move(sink)}, xc_{out_}, xl_{out_}, opts_{o} {}

    std::expected<SaveStats, std::string> run(std::string const& config_text) {
        auto t0 = clock_type::now();
        // Should this process die from here on, kxend turns log-dirty off and undoes the
        // suspend: libxl would leave the domain suspended for the user to resume.
        if (auto r = c_.guard(domid_, privcmd::Guard::resume); !r) return fail(xen_err("guard", r.error()));
        if (auto r = pages_.map(c_, domid_); !r) return fail(r.error());
        if (cancelled(opts_.cancel)) return fail("cancelled");
        if (auto r = st::write_xl_header(out_, st::XlHeader{st::xl_flag_streamv2, 0, config_text}); !r)
            return fail(r.error().message());
        if (auto r = xl_.header(); !r) return fail(r.error().message());
        if (auto r = xl_.libxc_context(); !r) return fail(r.error().message());
        if (auto r = xc_.header(); !r) return fail(r.error().message());
        auto policy = cpuid_policy(c_, domid_);
        if (!policy) return fail(policy.error());
        if (auto r = xc_.cpuid_policy(*policy); !r) return fail(r.error().message());
        std::vector<st::MsrEntry> msrs{{0xce, 0}};   // MSR_INTEL_PLATFORM_INFO, as Xen sends
        if (auto r = xc_.msr_policy(msrs); !r) return fail(r.error().message());
        if (auto r = xc_.static_data_end(); !r) return fail(r.error().message());

        std::vector<std::uint64_t> pending;   // dirty pages still to send
        if (opts_.live) {
            if (auto r = c_.shadow_op(domid_, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY); !r)
                return fail(xen_err("enable log-dirty", r.error()));
            logging_ = true;
            if (auto r = send(pages_.present(), true); !r) return fail(r.error());
            report(0, 0, 0, false);
            bitmap_.resize(pages_.max_pfn() / 64 + 1);
            for (unsigned it = 1; it <= opts_.max_iterations; ++it) {
                auto start = clock_type::now();
                auto bytes_before = out_.offset();
                auto dirty = collect(false);
                if (!dirty) return fail(dirty.error());
                pending = std::move(*dirty);
                stats_.iterations = it;
                // Pages sent in this iteration per second is what the link gives us.
                double const rate = bandwidth_bytes_per_ms();
                double const downtime = rate > 0 ? double(pending.size()) * 4096.0 / rate : 0;
                report(it, pending.size(), downtime, false);
                if (downtime <= opts_.downtime_target_ms || it == opts_.max_iterations) break;
                if (auto r = send(pending, false); !r) return fail(r.error());
                pending.clear();
                last_iter_ms_ = ms_since(start);
                last_iter_bytes_ = out_.offset() - bytes_before;
                if (cancelled(opts_.cancel)) return fail("cancelled");
            }
        }
        auto t_suspend = clock_type::now();
        if (auto r = suspend(); !r) return fail(r.error());
        if (opts_.live) {
            auto dirty = collect(true);
            if (!dirty) return fail(dirty.error());
            pending.insert(pending.end(), dirty->begin(), dirty->end());
            std::sort(pending.begin(), pending.end());
            pending.erase(std::unique(pending.begin(), pending.end()), pending.end());
            report(stats_.iterations + 1, pending.size(), 0, true);
            if (auto r = send(pending, false); !r) return fail(r.error());
            (void)c_.shadow_op(domid_, XEN_DOMCTL_SHADOW_OP_OFF);
            logging_ = false;
        } else {
            if (auto r = send(pages_.present(), true); !r) return fail(r.error());
            report(0, 0, 0, true);
        }
        if (opts_.verify) {
            if (auto r = xc_.verify(); !r) return fail(r.error().message());
            if (auto r = send(pages_.present(), false); !r) return fail(r.error());
        }
        if (auto r = tail(); !r) return fail(r.error());
        stats_.bytes = out_.offset();
        stats_.total_ms = ms_since(t0);
        stats_.downtime_ms = ms_since(t_suspend);
        return stats_;
    }

private:
    std::unexpected<std::string> fail(std::string const& why) {
        if (logging_) (void)c_.shadow_op(domid_, XEN_DOMCTL_SHADOW_OP_OFF);
        if (suspended_) {
            if (auto r = resume_suspended(c_, domid_, stats_.cooperative); !r) return std::unexpected(why + "; and resuming the domain failed: " + r.error());
        }
        return std::unexpected(why);
    }

    double bandwidth_bytes_per_ms() const {
        if (last_iter_ms_ > 0 && last_iter_bytes_ > 0) return double(last_iter_bytes_) / last_iter_ms_;
        return first_pass_ms_ > 0 ? double(first_pass_bytes_) / first_pass_ms_ : 0;
    }

    void report(unsigned it, std::uint64_t dirty, double downtime, bool final) {
        if (!opts_.progress) return;
        SaveProgress p;
        p.iteration = it;
        p.pages_sent = stats_.pages_sent + stats_.zero_pages;
        p.bytes = out_.offset();
        p.dirty = dirty;
        double const ms = ms_since(last_collect_);
        p.dirty_mb_s = it > 0 && ms > 0 ? double(dirty) * 4096.0 / 1e6 / (ms / 1e3) : 0;
        p.expected_downtime_ms = downtime;
        p.final = final;
        opts_.progress(p);
    }

    // The dirty pages since the last call, present ones only, ascending.
    std::expected<std::vector<std::uint64_t>, std::string> collect(bool final) {
        auto n = c_.shadow_op(domid_, XEN_DOMCTL_SHADOW_OP_CLEAN, bitmap_, final ? XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL : 0);
        if (!n) return std::unexpected(xen_err("log-dirty clean", n.error()));
        last_collect_ = clock_type::now();
        std::vector<std::uint64_t> out;
        for (std::size_t w = 0; w < bitmap_.size(); ++w)
            for (auto bits = bitmap_[w]; bits; bits &= bits - 1) {
                auto pfn = w * 64 + static_cast<unsigned>(__builtin_ctzll(bits));
                if (pages_.page(pfn)) out.push_back(pfn);
            }
        return out;
    }

    // PAGE_DATA records for `pfns`. On the first pass an all-zero page goes as XALLOC (no data):
    // the receiver's fresh RAM is zero already. Later a zero page is data like any other,
    // since the receiver holds an older copy.
    std::expected<void, std::string> send(std::vector<std::uint64_t> const& pfns, bool first_pass) {
        auto start = clock_type::now();
        auto bytes_before = out_.offset();
        std::vector<st::PageEntry> entries;
        std::vector<std::byte> data;
        for (std::size_t i = 0; i < pfns.size(); i += st::page_batch_max) {
            if (cancelled(opts_.cancel)) return std::unexpected("cancelled");
            entries.clear();
            data.clear();
            for (std::size_t k = i; k < std::min(pfns.size(), i + st::page_batch_max); ++k) {
                auto const* p = pages_.page(pfns[k]);
                if (!p) continue;
                if (first_pass && (pages_.hole(pfns[k]) || all_zero(p))) {
                    entries.push_back({pfns[k], st::PageType::xalloc});
                    ++stats_.zero_pages;
                    continue;
                }
                entries.push_back({pfns[k], st::PageType::notab});
                data.insert(data.end(), p, p + 4096);
                ++stats_.pages_sent;
            }
            if (entries.empty()) continue;
            if (auto r = xc_.page_data(entries, data); !r) return std::unexpected(r.error().message());
        }
        if (first_pass) {
            first_pass_ms_ = ms_since(start);
            first_pass_bytes_ = out_.offset() - bytes_before;
        }
        return {};
    }

    std::expected<void, std::string> suspend() {
        auto info = c_.domain_info(domid_);
        if (!info) return std::unexpected(xen_err("domain info", info.error()));
        auto code = [](xen_domctl_getdomaininfo_t const& i) {
            return (i.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
        };
        if ((info->flags & XEN_DOMINF_shutdown) && code(*info) != SHUTDOWN_suspend)
            return std::unexpected("the domain has shut down");
        auto const control = domain_path(domid_) + "/control/";
        bool const pv = store_ && store_->try_read(control + "feature-suspend").value_or("") == "1";
        if (auto r = c_.guard(domid_, privcmd::Guard::resume, pv); !r) return std::unexpected(xen_err("guard", r.error()));
        if (!(info->flags & XEN_DOMINF_shutdown)) {
            // As libxl: a guest with PV control suspends itself; any other is suspended from
            // outside, where it stands.
            if (pv) {
                if (auto r = store_->write(control + "shutdown", "suspend"); !r) return std::unexpected(r.error().message);
            } else if (auto r = c_.remote_shutdown(domid_, SHUTDOWN_suspend); !r) {
                return std::unexpected(xen_err("suspend", r.error()));
            }
        }
        auto deadline = clock_type::now() + opts_.suspend_timeout;
        while (true) {
            info = c_.domain_info(domid_);
            if (!info) return std::unexpected(xen_err("domain info", info.error()));
            if (info->flags & XEN_DOMINF_shutdown) {
                if (code(*info) != SHUTDOWN_suspend)
                    return std::unexpected(fmt::format("the domain shut down (reason {}) instead of suspending", code(*info)));
                break;
            }
            if (cancelled(opts_.cancel) || clock_type::now() > deadline) {
                if (pv) (void)store_->write(control + "shutdown", "");
                return std::unexpected(cancelled(opts_.cancel) ? std::string("cancelled")
                                                              : "the guest did not suspend in time");
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        suspended_ = true;
        stats_.cooperative = pv;
        return {};
    }

    // What follows the memory: TSC, vCPU and platform state, params, the ends.
    std::expected<void, std::string> tail() {
        st::TscInfoRecord tsc;
        if (auto p = c_.physinfo()) tsc.khz = p->cpu_khz;
        if (auto r = xc_.tsc_info(tsc); !r) return std::unexpected(r.error().message());
        auto ctx = c_.get_hvm_context(domid_);
        if (!ctx) return std::unexpected(xen_err("HVM context", ctx.error()));
        if (auto r = xc_.hvm_context(std::as_bytes(std::span{*ctx})); !r) return std::unexpected(r.error().message());
        std::vector<st::HvmParam> params;
        for (auto p : saved_params)
            if (auto v = c_.get_hvm_param(domid_, p); v && *v) params.push_back({p, *v});
        if (auto r = xc_.hvm_params(params); !r) return std::unexpected(r.error().message());
        if (auto r = xc_.end(); !r) return std::unexpected(r.error().message());
        if (auto r = xl_.end(); !r) return std::unexpected(r.error().message());
        return {};
    }

    privcmd::Client& c_;
    xs::Handle* store_;
    std::uint16_t domid_;
    st::StreamOutput out_;
    st::LibxcWriter xc_;
    st::LibxlWriter xl_;
    SaveOptions const& opts_;
    SourcePages pages_;
    std::vector<std::uint64_t> bitmap_;
    SaveStats stats_;
    bool logging_ = false, suspended_ = false;
    clock_type::time_point last_collect_ = clock_type::now();
    double first_pass_ms_ = 0, last_iter_ms_ = 0;
    std::uint64_t first_pass_bytes_ = 0, last_iter_bytes_ = 0;
};

} // namespace

std::expected<SaveStats, std::string> save_domain(privcmd::Client& c, xs::Handle* store, std::uint16_t domid,
                                                  std::string const& config_text, st::ByteSink sink,
                                                  SaveOptions const& opts) {
    Saver s{c, store, domid, std::move(sink), opts};
    return s.run(config_text);
}

std::expected<void, std::string> resume_suspended(privcmd::Client& c, std::uint16_t domid, bool cooperative) {
    if (!cooperative) {
        if (auto r = c.resume_domain(domid); !r) return std::unexpected(xen_err("resume", r.error()));
        return {};
    }
    if (auto r = c.pause(domid); !r) return std::unexpected(xen_err("pause", r.error()));
    struct Unpause {
        privcmd::Client& c;
        std::uint16_t d;
        ~Unpause() { (void)c.unpause(d); }
    } unpause{c, domid};
    auto ctx = c.get_hvm_context(domid);
    if (!ctx) return std::unexpected(xen_err("HVM context", ctx.error()));
    // The suspend hypercall of vCPU 0 returns 1: "cancelled, you are where you were".
    for (std::size_t off = 0; off + sizeof(hvm_save_descriptor) <= ctx->size();) {
        hvm_save_descriptor d;
        std::memcpy(&d, ctx->data() + off, sizeof d);
        off += sizeof d;
        if (d.typecode == 0 || off + d.length > ctx->size()) break;
        if (d.typecode == HVM_SAVE_CODE(CPU) && d.instance == 0 && d.length >= offsetof(hvm_hw_cpu, rbx)) {
            std::uint64_t one = 1;
            std::memcpy(ctx->data() + off + offsetof(hvm_hw_cpu, rax), &one, sizeof one);
        }
        off += d.length;
    }
    if (auto r = c.set_hvm_context(domid, *ctx); !r) return std::unexpected(xen_err("set HVM context", r.error()));
    if (auto r = c.resume_domain(domid); !r) return std::unexpected(xen_err("resume", r.error()));
    return {};
}

namespace {

std::expected<toolstack::DomainConfig, std::string> config_from_text(std::string const& text) {
    auto cfg = toolstack::parse_xl_cfg(text, "<saved config>");
    if (!cfg) return std::unexpected("the saved config: " + cfg.error().to_string());
    auto dc = toolstack::domain_config_from(*cfg);
    if (!dc) return std::unexpected("the saved config: " + dc.error().to_string());
    dc->text = text;
    return *dc;
}

} // namespace

// The xl.cfg equivalent of the libxl_domain_config JSON that real xl puts in its save files:
// what kxen's domains use of it (libxl's types: c_info, b_info and the on_* actions).
std::expected<std::string, std::string> config_from_libxl_json(std::string const& text) {
    auto j = nlohmann::json::parse(text.c_str(), nullptr, false);   // c_str: xl counts a NUL
    if (j.is_discarded() || !j.is_object()) return std::unexpected("the save file's libxl JSON config does not parse");
    auto const& c = j.value("c_info", nlohmann::json::object());
    auto const& b = j.value("b_info", nlohmann::json::object());
    std::string out;
    auto str = [&](char const* key, std::string const& v) { out += fmt::format("{} = \"{}\"\n", key, v); };
    auto type = c.value("type", std::string{"pvh"});
    if (type != "pvh" && type != "hvm")
        return std::unexpected(fmt::format("the saved domain is of type {}; kxen runs PVH domains", type));
    str("type", "pvh");
    if (c.contains("name")) str("name", c["name"].get<std::string>());
    if (c.contains("uuid")) str("uuid", c["uuid"].get<std::string>());
    auto const target = b.value("target_memkb", std::uint64_t{0}), max = b.value("max_memkb", target);
    if (!target) return std::unexpected("the save file's libxl JSON config has no b_info.target_memkb");
    out += fmt::format("memory = {}\nmaxmem = {}\n", target >> 10, max >> 10);
    auto const maxv = b.value("max_vcpus", 1u);
    unsigned avail = 0;
    if (b.contains("avail_vcpus") && b["avail_vcpus"].is_array())
        for (auto const& v : b["avail_vcpus"]) avail += v.is_number() ? 1 : 0;
    out += fmt::format("vcpus = {}\nmaxvcpus = {}\n", avail ? avail : maxv, maxv);
    // The kernel is only read to build a domain; a restore does not need it.
    str("kernel", b.value("kernel", std::string{"/dev/null"}));
    if (b.contains("cmdline")) str("cmdline", b["cmdline"].get<std::string>());
    for (auto const* k : {"on_poweroff", "on_reboot", "on_watchdog", "on_crash", "on_soft_reset"})
        if (j.contains(k) && j[k].is_string()) {
            auto v = j[k].get<std::string>();
            std::replace(v.begin(), v.end(), '_', '-');
            str(k, v);
        }
    return out;
}

std::expected<Restored, std::string> restore_domain(privcmd::Client& c, xs::Handle* store, st::ByteSource& src,
                                                    RestoreOptions const& opts) {
    st::StreamInput in{src};
    auto hdr = st::read_xl_header(in);
    if (!hdr) return std::unexpected(hdr.error().message());
    std::string text = hdr->config;
    if (hdr->json()) {
        auto t = config_from_libxl_json(hdr->config);
        if (!t) return std::unexpected(t.error());
        text = std::move(*t);
    }
    auto cfg = config_from_text(text);
    if (!cfg) return std::unexpected(cfg.error());
    auto layout = build::plan_pvh_ram(cfg->memory_bytes());
    if (!layout) return std::unexpected("the saved config: " + layout.error().message);

    // The config's name, unless this host has a domain of that name already (a migration to
    // the same host): then the suffix tells them apart until the handshake renames ours.
    std::string name = cfg->name;
    auto domid = make_domain(c, *cfg, name);
    if (!domid && !opts.name_suffix.empty() && domid.error().find("already exists") != std::string::npos) {
        name += opts.name_suffix;
        domid = make_domain(c, *cfg, name);
    }
    if (!domid) return std::unexpected(domid.error());
    struct Guard {
        privcmd::Client& c;
        xs::Handle* store;
        std::uint16_t domid;
        bool armed = true;
        ~Guard() {
            if (armed) (void)destroy_domain(c, store, domid);
        }
    } guard{c, store, *domid};

    GuestMemory mem;
    if (auto r = populate_ram(c, *domid, *layout, mem); !r) return std::unexpected(r.error());
    std::uint64_t pfn_end = std::max({layout->lowmem_end, layout->highmem_end,
                                      (layout->special_gfns.back() + 1) << 12}) >> 12;
    std::vector<std::byte> hvm_context;
    std::vector<st::HvmParam> params;
    bool verifying = false;   // after VERIFY: compare, do not write
    std::uint64_t differ = 0, first_differ = 0;
    st::ReadOptions ro;
    ro.pfn_limit = std::max(pfn_end, build::gib4 >> 12);
    st::StreamVisitor v;
    v.libxc_header = [&](st::LibxcHeader const& h) -> st::StreamResult<void> {
        if (h.page_shift != 12) return st::stream_fail("libxc", "domain header", in.offset(), "page shift {} is not 12", h.page_shift);
        return {};
    };
    v.libxc = [&](st::LibxcRecord const& rec) -> st::StreamResult<void> {
        if (cancelled(opts.cancel)) return st::stream_fail("restore", "stream", in.offset(), "cancelled");
        if (auto const* pd = std::get_if<st::PageDataRecord>(&rec)) {
            std::size_t di = 0;
            for (auto const& e : pd->pages) {
                auto t = static_cast<unsigned>(e.type);
                if (e.type == st::PageType::xtab || e.type == st::PageType::broken) continue;
                auto dst = mem.map(e.pfn << 12, 4096);
                // A frame outside our layout below 4 GiB: what another builder placed there
                // (libxenguest's ACPI tables and special pages). Populated as libxc's restore
                // does, within the domain's maxmem and its 1 MiB of slack.
                if (dst.empty() && e.pfn < (build::gib4 >> 12)) {
                    if (auto r = c.populate_physmap(*domid, e.pfn, 1); r)
                        if (auto m = c.map_foreign(*domid, e.pfn, 1)) {
                            mem.add(e.pfn << 12, std::move(*m));
                            dst = mem.map(e.pfn << 12, 4096);
                        }
                }
                if (dst.empty())
                    return st::stream_fail("libxc", "PAGE_DATA", in.offset(), "pfn {:#x} is not RAM of a {} MiB domain",
                                           e.pfn, cfg->memory_mib);
                if (!st::page_type_has_data(t)) continue;   // XALLOC: our fresh RAM is zero
                auto const* page = pd->data.data() + di * 4096;
                ++di;
                if (!verifying) {
                    std::memcpy(dst.data(), page, 4096);
                } else if (std::memcmp(dst.data(), page, 4096) != 0) {
                    if (differ++ == 0) first_differ = e.pfn;
                }
            }
        } else if (std::holds_alternative<st::VerifyRecord>(rec)) {
            verifying = true;
        } else if (auto const* hc = std::get_if<st::HvmContextRecord>(&rec)) {
            hvm_context = hc->blob;
        } else if (auto const* hp = std::get_if<st::HvmParamsRecord>(&rec)) {
            params = hp->params;
        }
        return {};
    };
    if (auto r = st::read_libxl_stream(in, ro, v); !r) return std::unexpected(r.error().message());
    if (hvm_context.empty()) return std::unexpected("the stream has no HVM_CONTEXT");
    if (differ)
        return std::unexpected(fmt::format("libxc VERIFY: {} pages differ from what the stream gave before "
                                           "(first: pfn {:#x}): the sender missed a dirty page",
                                           differ, first_differ));

    if (auto r = set_e820(c, *domid, *layout); !r) return std::unexpected(r.error());
    auto ch = offer_channels(c, *domid);
    if (!ch) return std::unexpected(ch.error());
    for (auto const& p : params) {
        if (p.index >= HVM_NR_PARAMS) return std::unexpected(fmt::format("libxc HVM_PARAMS: unknown param {}", p.index));
        if (auto r = c.set_hvm_param(*domid, static_cast<std::uint32_t>(p.index), p.value); !r)
            return std::unexpected(fmt::format("libxc HVM_PARAMS: param {} = {:#x}: {}", p.index, p.value,
                                               privcmd::xen_strerror(r.error())));
        if (p.index == HVM_PARAM_STORE_PFN) ch->store_gfn = p.value;
        if (p.index == HVM_PARAM_CONSOLE_PFN) ch->console_gfn = p.value;
    }
    auto blob = std::span{reinterpret_cast<std::uint8_t const*>(hvm_context.data()), hvm_context.size()};
    if (auto r = c.set_hvm_context(*domid, blob); !r)
        return std::unexpected(xen_err("libxc HVM_CONTEXT refused by the hypervisor", r.error()));
    if (cancelled(opts.cancel)) return std::unexpected("cancelled");
    Restored out{*domid, *cfg};
    out.config.name = name;
    if (store)
        if (auto r = announce_domain(*store, *domid, out.config, *ch); !r) return std::unexpected("xenstore: " + r.error());
    remember_config(c, *domid, *cfg);
    if (!opts.paused)
        if (auto r = c.unpause(*domid); !r) return std::unexpected(xen_err("unpause", r.error()));
    if (!opts.keep_guard) (void)c.guard(*domid, privcmd::Guard::none);
    guard.armed = false;
    return out;
}

} // namespace kxen::kxl
