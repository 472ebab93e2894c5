//! Tests of `evidence::parse` on the outputs captured from a Debian 12 Xen 4.17 host and a
//! Debian 12 KVM host (AMD SVM) in `fixtures/`, and on truncated and garbage text.

use super::*;

const CPUS_FAST: &str = include_str!("fixtures/query-cpus-fast.json");
const HIST: &str = include_str!("fixtures/kvm_exit-hist.txt");
const XA_PVH: &str = include_str!("fixtures/xenalyze-pvh.txt");
const XA_PV: &str = include_str!("fixtures/xenalyze-pv.txt");
const XENTOP: &str = include_str!("fixtures/xentop-pvh.txt");
const XL_DMESG: &str = include_str!("fixtures/xl-dmesg.txt");
const XL_INFO: &str = include_str!("fixtures/xl-info.txt");
const XL_LIST: &str = include_str!("fixtures/xl-list-l-pvh.json");
const TASK_STAT: &str = include_str!("fixtures/task-stat.txt");

/// A typical /proc/stat (format: the kernel's Documentation/filesystems/proc.rst).
const PROC_STAT: &str = "cpu  10132153 290696 3084719 46828483 16683 0 25195 175628 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 87814 0 0
cpu1 1335941 32965 530716 11381034 5002 0 1983 87814 0 0
intr 1462898 0 0 0
ctxt 1990473
btime 1062191376
processes 2915
procs_running 1
procs_blocked 0
softirq 12121874 0 7052352 0 0 0 0 0 0 0 0
";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn domain(s: &XenalyzeSummary, domid: u32) -> &XenalyzeDomain {
    s.domains
        .iter()
        .find(|d| d.domid == domid)
        .expect("domain in summary")
}

#[test]
fn vcpu_threads_from_query_cpus_fast() {
    assert_eq!(vcpu_threads(CPUS_FAST), vec![1531]);
    let two = r#"{"return":[{"thread-id":11,"cpu-index":0},{"thread-id":12,"cpu-index":1}]}"#;
    assert_eq!(vcpu_threads(two), vec![11, 12]);
    assert!(vcpu_threads("garbage").is_empty());
}

#[test]
fn kvm_exit_hist_per_reason() {
    let h = kvm_exit_hist(HIST, &[1531]);
    assert_eq!(h.len(), 17);
    assert_eq!(h[&0x7B], 20197);
    assert_eq!(h[&0x400], 1685);
    assert_eq!(h[&0x7C], 1330);
    assert_eq!(h.values().sum::<u64>(), 25984, "the Hits total");
    assert_eq!(kvm_exit_hist(HIST, &[]), h, "no pids: every entry");
    assert!(kvm_exit_hist(HIST, &[4242]).is_empty());
}

#[test]
fn kvm_exit_hist_sums_pids_and_reads_execname_keys() {
    let text = "{ common_pid: qemu-kvm [      7], exit_reason:  120 } hitcount:  4\n\
                { common_pid:       8, exit_reason:  120 } hitcount:  5\n\
                { common_pid:       9, exit_reason:  120 } hitcount:  6\n\
                { common_pid:       7, exit_reason:  120 } hitcount: 18446744073709551615\n";
    assert_eq!(kvm_exit_hist(text, &[8, 9])[&120], 11);
    assert_eq!(kvm_exit_hist(text, &[7])[&120], u64::MAX, "saturates");
}

#[test]
fn every_exit_in_the_svm_fixture_has_a_name() {
    for code in kvm_exit_hist(HIST, &[]).keys() {
        assert!(svm_exit_name(*code).is_some(), "svm exit {code:#x}");
    }
    let names: Vec<_> = [
        0x72, 0x7B, 0x7C, 0x400, 0x60, 0x64, 0x6E, 0x87, 0x78, 0x81, 0x14, 0x00, 0x47,
    ]
    .into_iter()
    .map(|c| svm_exit_name(c).unwrap())
    .collect();
    assert_eq!(
        names,
        [
            "cpuid",
            "io",
            "msr",
            "npf",
            "intr",
            "vintr",
            "rdtsc",
            "rdtscp",
            "hlt",
            "vmmcall",
            "cr4_write",
            "cr0_read",
            "exception_nm"
        ]
    );
    assert_eq!(svm_exit_name(0x3F), Some("dr15_write"));
    assert_eq!(svm_exit_name(0x5F), Some("exception_31"));
    assert_eq!(svm_exit_name(0x9F), Some("cr15_write_trap"));
    assert_eq!(svm_exit_name(u32::MAX), Some("invalid"));
    assert_eq!(svm_exit_name(0x404), None);
    assert_eq!(svm_exit_name(0x200), None);
}

#[test]
fn vmx_exit_names_and_shared_causes() {
    let pairs = [
        (0, "exception_nmi"),
        (1, "external_interrupt"),
        (10, "cpuid"),
        (12, "hlt"),
        (16, "rdtsc"),
        (18, "vmcall"),
        (28, "cr_access"),
        (30, "io"),
        (31, "msr_read"),
        (32, "msr_write"),
        (48, "ept_violation"),
        (49, "ept_misconfig"),
        (51, "rdtscp"),
        (52, "preemption_timer"),
    ];
    for (code, name) in pairs {
        assert_eq!(vmx_exit_name(code), Some(name), "vmx {code}");
    }
    assert_eq!(
        vmx_exit_name(0x8000_0021),
        Some("invalid_guest_state"),
        "flag bits masked"
    );
    assert_eq!(vmx_exit_name(35), None);
    assert_eq!(vmx_exit_name(0xFFFF), None);
    // Same cause, same name.
    for (svm, vmx) in [
        (0x72, 10),
        (0x78, 12),
        (0x7B, 30),
        (0x6E, 16),
        (0x87, 51),
        (0x77, 40),
        (0x89, 54),
    ] {
        assert_eq!(svm_exit_name(svm), vmx_exit_name(vmx));
    }
}

#[test]
fn xenalyze_pvh_summary() {
    let s = xenalyze_summary(XA_PVH);
    assert!(close(s.total_s, 5.63));
    assert_eq!(
        s.domains.iter().map(|d| d.domid).collect::<Vec<_>>(),
        [0, 6, 32767]
    );

    let d6 = domain(&s, 6);
    assert!(close(d6.running_s, 1.09));
    assert!(close(d6.runnable_s, 0.01));
    assert!(close(d6.blocked_s, 0.0));
    let want: BTreeMap<String, u64> = [
        ("cr4_write", 118),
        ("exception_nm", 16),
        ("intr", 388),
        ("vintr", 50),
        ("rdtsc", 3244),
        ("cpuid", 36),
        ("ioio", 2),
        ("msr", 367),
        ("vmmcall", 307),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        d6.exits, want,
        "sub-lines (`cr4`, `cpuid`) are not counted again"
    );
    assert!(d6.hypercalls.is_empty() && d6.pv_events.is_empty());

    // Sums over v0 and v1, not the domain-level runstates (whose `blocked:` is 5.08 s).
    let d0 = domain(&s, 0);
    assert!(close(d0.running_s, 0.34 + 0.30), "{}", d0.running_s);
    assert!(close(d0.runnable_s, 0.05 + 0.04));
    assert!(close(d0.blocked_s, 5.24 + 5.28));
    assert!(d0.exits.is_empty());

    let idle = domain(&s, 32767);
    assert!(close(idle.running_s, 4.48 + 5.03));
    assert!(close(idle.runnable_s, 1.15 + 0.59));
}

#[test]
fn xenalyze_pv_summary() {
    let s = xenalyze_summary(XA_PV);
    assert!(close(s.total_s, 4.63));
    assert_eq!(
        s.domains.iter().map(|d| d.domid).collect::<Vec<_>>(),
        [0, 8, 32767]
    );

    let d8 = domain(&s, 8);
    assert!(close(d8.running_s, 1.22));
    assert!(close(d8.runnable_s, 0.01));
    assert!(close(d8.blocked_s, 0.0));
    assert!(d8.exits.is_empty());
    assert_eq!(d8.hypercalls["mmu_update"], 16274);
    assert_eq!(d8.hypercalls["iret"], 536);
    assert_eq!(d8.hypercalls["handler"], 1);
    assert_eq!(d8.hypercalls.len(), 12);
    assert_eq!(
        d8.hypercalls.values().sum::<u64>(),
        18697,
        "the breakdown adds up to `hypercall`"
    );
    let want: BTreeMap<String, u64> = [
        ("page_fault", 54),
        ("emulate_privop", 3507),
        ("math_state_restore", 11),
        ("ptwr", 225),
        ("hypercall", 18697),
        ("hypercall_subcall", 21),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(d8.pv_events, want);

    // dom0: both vCPUs summed.
    let d0 = domain(&s, 0);
    assert!(close(d0.running_s, 0.42 + 0.29));
    assert!(close(d0.blocked_s, 4.17 + 4.31));
    assert_eq!(d0.hypercalls["mmu_update"], 713 + 291);
    assert_eq!(d0.hypercalls["iret"], 1524 + 1312);
    assert_eq!(d0.hypercalls["grant_table_op"], 2);
    assert_eq!(d0.pv_events["hypercall"], 4299 + 4097);
    assert_eq!(d0.pv_events["math_state_restore"], 20 + 3);
}

#[test]
fn xentop_last_iteration() {
    let row = xentop_domain(XENTOP, "cap-pvh").unwrap();
    assert_eq!(row["cpu(sec)"], 7.0);
    assert_eq!(row["cpu(%)"], 98.4);
    assert_eq!(row["mem(k)"], 524352.0);
    assert_eq!(row["vcpus"], 1.0);
    assert_eq!(row["vbd_oo"], 0.0);
    assert_eq!(row["vbd_wr"], 0.0);
    assert_eq!(row["nettx(k)"], 0.0);
    assert_eq!(row["ssid"], 0.0);
    assert!(!row.contains_key("state") && !row.contains_key("name"));
    assert_eq!(row.len(), 17);
    assert_eq!(xentop_domain(XENTOP, "Domain-0").unwrap()["cpu(%)"], 14.5);
    assert_eq!(xentop_domain(XENTOP, "nope"), None);
    // Only the last iteration counts: a domain gone by then is not found.
    let first_only = XENTOP.lines().take(3).collect::<Vec<_>>().join("\n")
        + "\n      NAME  STATE   CPU(sec) CPU(%)\n  Domain-0 -----r         96   1.0\n";
    assert_eq!(xentop_domain(&first_only, "cap-pvh"), None);
    let no_limit = "NAME STATE CPU(sec) CPU(%) MEM(k) MEM(%) MAXMEM(k) MAXMEM(%) VCPUS\n\
                    Domain-0 -----r 95 1.5 3072000 73.3 no limit n/a 2\n";
    let row = xentop_domain(no_limit, "Domain-0").unwrap();
    assert_eq!(row["vcpus"], 2.0);
    assert!(!row.contains_key("maxmem(k)"));
}

#[test]
fn xl_dmesg_spec_ctrl_facts() {
    let spec = xen_spec_ctrl(XL_DMESG);
    assert_eq!(
        spec["xen.spec.xpti"],
        "Dom0 disabled, DomU disabled (without PCID)"
    );
    assert_eq!(spec["xen.spec.l1tf_shadow"], "Dom0 disabled, DomU disabled");
    assert_eq!(
        spec["xen.spec.settings"],
        "BTI-Thunk: RETPOLINE, SPEC_CTRL: No, Other: BRANCH_HARDEN"
    );
    assert_eq!(spec["xen.spec.hvm_support"], "RSB");
    assert_eq!(spec["xen.spec.pv_support"], "RSB");
    assert_eq!(spec["xen.tsc"], "TSC only partially writable");
    assert!(!spec.contains_key("xen.spec.l1d_flush"));
    assert_eq!(spec.len(), 6);
    assert_eq!(xpti_domu_on(&spec), Some(false));
}

#[test]
fn xl_dmesg_with_timestamps_and_l1d_flush() {
    let text = "(XEN) [    0.123456]   XPTI (64-bit PV only): Dom0 enabled, DomU enabled (with PCID)\n\
                (XEN) [    0.123457]   Xen settings: BTI-Thunk JMP, SPEC_CTRL: IBRS- SSBD-, Other: IBPB-ctxt L1D_FLUSH\n\
                (XEN) [    0.2] TSC deadline timer enabled\n";
    let spec = xen_spec_ctrl(text);
    assert_eq!(
        spec["xen.spec.xpti"],
        "Dom0 enabled, DomU enabled (with PCID)"
    );
    assert_eq!(
        spec["xen.spec.settings"],
        "BTI-Thunk JMP, SPEC_CTRL: IBRS- SSBD-, Other: IBPB-ctxt L1D_FLUSH"
    );
    assert!(spec["xen.spec.l1d_flush"].ends_with("IBPB-ctxt L1D_FLUSH"));
    assert_eq!(spec["xen.tsc"], "TSC deadline timer enabled");
    assert_eq!(xpti_domu_on(&spec), Some(true));
    assert_eq!(xpti_domu_on(&BTreeMap::new()), None);
}

#[test]
fn xl_info_keys() {
    let info = xl_info(XL_INFO);
    assert_eq!(info.len(), 34);
    assert_eq!(info["xen_version"], "4.17.7");
    assert_eq!(info["nr_cpus"], "2");
    assert_eq!(info["xen_scheduler"], "credit2");
    assert_eq!(info["cc_compile_date"], "Wed Nov  4 16:52:28 UTC 2026");
    assert_eq!(
        info["xen_commandline"],
        "console=com1 dom0_mem=3000M,max:3000M"
    );
    assert_eq!(info["xen_changeset"], "");
}

#[test]
fn tsc_mode_from_xl_list() {
    assert_eq!(tsc_mode(XL_LIST).as_deref(), Some("default"));
    let native = XL_LIST.replace(
        "\"max_vcpus\": 1,",
        "\"max_vcpus\": 1, \"tsc_mode\": \"native\",",
    );
    assert_eq!(tsc_mode(&native).as_deref(), Some("native"));
    assert_eq!(tsc_mode("[]"), None);
    assert_eq!(tsc_mode("[{\"domid\": 1}]"), None);
    assert_eq!(tsc_mode(&XL_LIST[..XL_LIST.len() / 2]), None);
}

#[test]
fn task_stat_ticks() {
    assert_eq!(task_cpu_ticks(TASK_STAT), Some((2, 3)));
    let odd = "42 (a) b) c) R 1 1 1 0 -1 0 0 0 0 0 17 19 0 0 20 0 1 0 5";
    assert_eq!(task_cpu_ticks(odd), Some((17, 19)));
    assert_eq!(task_cpu_ticks("42 (x) R 1 1"), None);
    assert_eq!(task_cpu_ticks("no parens"), None);
}

/// Every parser on every fixture cut short anywhere, and on garbage: no panic, and nothing
/// parsed out of nothing.
#[test]
fn truncated_and_garbage_input_never_panics() {
    let garbage = [
        "",
        "\0\0\0",
        "{",
        "}{",
        "[",
        ")",
        "(",
        "(XEN) [",
        "(XEN) ",
        "|-- Domain --|",
        "|-- Domain 99999999999 --|\n-- v0 --\n Runstates:\n   running: 1 1.00s\n",
        "|-- Domain 1 --|\n-- v0 --\n Runstates:\n   running: 1 NaNs\n   running: 1 infs\n   running: 1 -1s\n",
        "|-- Domain 1 --|\nExit reasons:\n \n VMEXIT_X\n VMEXIT_Y 99999999999999999999999\n",
        "|-- Domain 1 --|\nPV events:\n  ]:\n  x ]: y\n  \n",
        "{ common_pid: , exit_reason: } hitcount:",
        "{ common_pid: [ ] , exit_reason: ][ } hitcount: -1",
        "{}",
        "cpu ",
        "NAME\nNAME STATE\n x",
        "Total time: seconds",
        "Dropped: lots",
        "\u{feff}é漢字)",
    ];
    let fixtures = [
        CPUS_FAST, HIST, XA_PVH, XA_PV, XENTOP, XL_DMESG, XL_INFO, XL_LIST, TASK_STAT, PROC_STAT,
    ];
    let mut inputs: Vec<&str> = garbage.to_vec();
    for f in fixtures {
        inputs.extend(
            (0..f.len())
                .step_by(7)
                .filter(|&i| f.is_char_boundary(i))
                .map(|i| &f[..i]),
        );
    }
    for text in inputs {
        let _ = vcpu_threads(text);
        let _ = kvm_exit_hist(text, &[]);
        let _ = kvm_exit_hist(text, &[1531]);
        let _ = xenalyze_summary(text);
        let _ = xentop_domain(text, "cap-pvh");
        let spec = xen_spec_ctrl(text);
        let _ = xpti_domu_on(&spec);
        let _ = xl_info(text);
        let _ = tsc_mode(text);
        let _ = task_cpu_ticks(text);
    }
    for code in (0..0x500).chain([u32::MAX, u32::MAX - 1, 0x8000_0000]) {
        let _ = (svm_exit_name(code), vmx_exit_name(code));
    }
    for g in garbage {
        assert!(vcpu_threads(g).is_empty());
        assert!(kvm_exit_hist(g, &[]).is_empty(), "{g:?}");
        assert_eq!(tsc_mode(g), None);
        assert_eq!(task_cpu_ticks(g), None);
        assert_eq!(xentop_domain(g, "x"), None);
        let s = xenalyze_summary(g);
        assert!(s
            .domains
            .iter()
            .all(|d| d.running_s == 0.0 && d.exits.is_empty() && d.pv_events.is_empty()));
    }
}

#[test]
fn xen_tsc_reliability_from_the_s_debug_key() {
    // As Xen 4.17 printed it in the lab with the server CPU (invtsc), and with qemu64.
    let reliable = "(XEN) Freed 656kB init memory\n(XEN) TSC marked as reliable, warp = 0 (count=2)\n(XEN) No domains have emulated TSC\n";
    assert_eq!(xen_tsc_reliable(reliable), Some(true));
    let not = "(XEN) TSC not marked as either constant or reliable, warp=0 (count=2)\n(XEN) dom1: mode=0,ofs=0x1d5f,khz=2596133\n";
    assert_eq!(xen_tsc_reliable(not), Some(false));
    let deep =
        "(XEN) TSC has constant rate, deep Cstates possible, so not reliable, warp=3 (count=2)\n";
    assert_eq!(xen_tsc_reliable(deep), Some(false));
    // The last word counts.
    assert_eq!(xen_tsc_reliable(&format!("{not}{reliable}")), Some(true));
    assert_eq!(xen_tsc_reliable("(XEN) nothing\n"), None);
}

#[test]
fn xen_emulates_the_tsc_as_its_mode_and_the_host_say() {
    assert_eq!(xen_vtsc("default", Some(true), Some(2)), Some("native"));
    assert_eq!(xen_vtsc("default", Some(false), Some(2)), Some("emulated"));
    assert_eq!(xen_vtsc("default", Some(false), Some(1)), Some("native"));
    assert_eq!(xen_vtsc("default", None, Some(2)), None);
    assert_eq!(
        xen_vtsc("always_emulate", Some(true), Some(2)),
        Some("emulated")
    );
    assert_eq!(xen_vtsc("native", Some(false), Some(2)), Some("native"));
    assert_eq!(xen_vtsc("native_paravirt", None, None), Some("native"));
    assert_eq!(xen_vtsc("odd", Some(true), Some(2)), None);
}
