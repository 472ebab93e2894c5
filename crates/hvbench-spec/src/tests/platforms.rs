//! `[[platform]]` tables and `[guest]`: drivers and their keys, duplicate names, the guest a
//! VM platform needs, Xen platforms and the lab, and QEMU's disk cache and network.

use super::*;

#[test]
fn unknown_and_unsupported_drivers() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-pv"
driver = "ssh"
type = "pv"

[[platform]]
name = "vbox"
driver = "virtualbox"

[[platform]]
name = "kvm"
driver = "kvm"

[[platform]]
name = "nodriver"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (6, 10, "\"ssh\"", "the `ssh` driver is not yet supported"),
            (11, 10, "\"virtualbox\"", "unknown driver `virtualbox`"),
            (15, 10, "\"kvm\"", "unknown driver `kvm`"),
            (17, 1, "[[platform]]", "this [[platform]] has no `driver`"),
        ],
    );
    assert!(err.diagnostics[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("host, qemu, xen"));
    assert!(err.diagnostics[2]
        .hint
        .as_deref()
        .unwrap()
        .contains("driver = \"qemu\" and accel = \"kvm\""));
}

#[test]
fn driver_specific_keys_on_the_wrong_driver() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "host"
driver = "host"
accel = "kvm"
cpu = "max"

[[platform]]
name = "qemu"
driver = "qemu"
accel = "hvf"
machine = "q 35"
cpu = ""

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (
                7,
                1,
                "accel",
                "`accel` applies only to driver = \"qemu\", not \"host\"",
            ),
            (8, 1, "cpu", "`cpu` applies only to driver = \"qemu\""),
            (
                13,
                9,
                "\"hvf\"",
                "`accel` must be one of \"auto\", \"kvm\", \"tcg\", got \"hvf\"",
            ),
            (14, 11, "\"q 35\"", "`machine` must be a QEMU machine type"),
            (15, 7, "\"\"", "`cpu` must be a QEMU CPU model"),
        ],
    );
    assert_eq!(
        err.diagnostics[0].hint.as_deref(),
        Some("remove it, or set driver = \"qemu\"")
    );
}

#[test]
fn duplicate_platform_names() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "a"
driver = "host"

[[platform]]
name = "a"
driver = "qemu"

[[workload]]
name = "syscall"
"#;
    let d = expect_one(text, 9, 8, "\"a\"", "duplicate platform name `a`");
    assert!(d.hint.unwrap().contains("line 5"));
}

#[test]
fn vm_platform_needs_a_guest_table() {
    let text = r#"name = "x"

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "qemu"
driver = "qemu"

[[workload]]
name = "syscall"
"#;
    let d = expect_one(
        text,
        9,
        10,
        "\"qemu\"",
        "platform `qemu` boots a guest, but the experiment has no [guest] table",
    );
    assert!(d
        .hint
        .unwrap()
        .contains("an empty [guest] takes the defaults"));
    // An empty [guest] is enough.
    let with_guest = text.replace("name = \"x\"\n", "name = \"x\"\n[guest]\n");
    assert!(parse("t.toml", &with_guest).is_ok());
}

#[test]
fn xen_platforms_and_the_lab() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-pv"
driver = "xen"
type = "pv"
lab = true
cpus = "1"
weight = 512
cap = 50

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
lab = true
cpus = "0,2-3"

[[workload]]
name = "syscall"
"#;
    let plan = parse("x.toml", text).unwrap();
    match &plan.platforms[1].driver {
        Driver::Qemu(q) => assert_eq!(q.cpus.as_deref(), Some("0,2-3")),
        d => panic!("{d:?}"),
    }
    assert_eq!(crate::parse_cpu_list("0,2-3"), Some(vec![0, 2, 3]));
    assert_eq!(crate::parse_cpu_list("3-1"), None);
    assert_eq!(crate::parse_cpu_list(""), None);
    assert_eq!(crate::parse_cpu_list("a"), None);
    assert_eq!(
        plan.platforms[0],
        PlatformSpec {
            name: "xen-pv".into(),
            driver: Driver::Xen(XenSpec {
                kind: XenGuestType::Pv,
                cpus: Some("1".into()),
                weight: Some(512),
                cap: Some(50),
                tsc_mode: None,
            }),
            lab: true,
            host: None,
            boot: None,
        }
    );
    assert!(plan.platforms[1].lab);
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    assert!(plan.render().contains("xen, type pv, vCPUs pinned to 1"));
}

#[test]
fn xen_key_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-pv"
driver = "xen"
type = "kvm"
accel = "tcg"
lab = "yes"

[[platform]]
name = "host"
driver = "host"
lab = true

[[platform]]
name = "q"
driver = "qemu"
weight = 3

[[workload]]
name = "syscall"
"#;
    expect_errors(
        text,
        &[
            (7, 8, "\"kvm\"", "`type` must be one of"),
            (
                8,
                1,
                "accel",
                "`accel` applies only to driver = \"qemu\", not \"xen\"",
            ),
            (9, 7, "\"yes\"", "`lab` must be true or false"),
            (14, 1, "lab", "applies only to guests"),
            (
                19,
                1,
                "weight",
                "`weight` applies only to driver = \"xen\", not \"qemu\"",
            ),
        ],
    );
}

#[test]
fn disk_cache_is_a_qemu_key() {
    let text = r#"name = "io"
[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "wb"
driver = "qemu"
disk_cache = "writeback"

[[platform]]
name = "default"
driver = "qemu"

# In the lab the default is writeback (the lab host's tmpfs refuses O_DIRECT); a mode given
# stays.
[[platform]]
name = "lab"
driver = "qemu"
accel = "kvm"
lab = true

[[platform]]
name = "lab-direct"
driver = "qemu"
accel = "kvm"
lab = true
disk_cache = "directsync"

[[workload]]
name = "disk-seq-read"
mode = "buffered"
size_mib = 32
"#;
    let plan = parse("io.toml", text).unwrap();
    let caches: Vec<Option<DiskCache>> = plan
        .platforms
        .iter()
        .map(|p| match &p.driver {
            Driver::Qemu(q) => Some(q.disk_cache),
            _ => None,
        })
        .collect();
    assert_eq!(
        caches,
        [
            None,
            Some(DiskCache::Writeback),
            Some(DiskCache::None),
            Some(DiskCache::Writeback),
            Some(DiskCache::Directsync)
        ]
    );
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["platforms"][1]["disk_cache"], "writeback");
    // A plan stored before the key existed still reads, with the default.
    let mut old = value.clone();
    old["platforms"][2]
        .as_object_mut()
        .unwrap()
        .remove("disk_cache");
    let back: Plan = serde_json::from_value(old).unwrap();
    assert_eq!(back, plan);
    // The plan shows the mode where a disk workload makes it matter.
    let rendered = plan.render();
    assert!(rendered.contains("disk cache writeback"), "{rendered}");
    assert!(rendered.contains("disk cache none"), "{rendered}");
    let without_disk = parse("valid.toml", VALID).unwrap().render();
    assert!(!without_disk.contains("disk cache"), "{without_disk}");
    for mode in ["none", "writeback", "writethrough", "directsync", "unsafe"] {
        assert_eq!(DiskCache::from_name(mode).unwrap().as_str(), mode);
    }
    assert!(DiskCache::None.uses_o_direct() && !DiskCache::Unsafe.uses_o_direct());
}

#[test]
fn disk_cache_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "host"
driver = "host"
disk_cache = "none"

[[platform]]
name = "a"
driver = "qemu"
disk_cache = "writebak"

[[platform]]
name = "b"
driver = "qemu"
disk_cache = 1

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (
                7,
                1,
                "disk_cache",
                "`disk_cache` applies only to driver = \"qemu\"",
            ),
            (
                12,
                14,
                "\"writebak\"",
                "`disk_cache` must be one of \"none\", \"writeback\", \"writethrough\", \"directsync\", \"unsafe\"",
            ),
            (17, 14, "1", "`disk_cache`"),
        ],
    );
    assert!(err.diagnostics[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("did you mean `writeback`?"));
}

#[test]
fn net_is_a_qemu_key() {
    let text = r#"name = "net"
[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "tap"
driver = "qemu"
net = "tap"

[[platform]]
name = "slirp"
driver = "qemu"
net = "user"

[[platform]]
name = "default"
driver = "qemu"

[[workload]]
name = "syscall"
"#;
    let plan = parse("net.toml", text).unwrap();
    let modes: Vec<Option<NetMode>> = plan
        .platforms
        .iter()
        .map(|p| match &p.driver {
            Driver::Qemu(q) => Some(q.net),
            _ => None,
        })
        .collect();
    assert_eq!(
        modes,
        [
            None,
            Some(NetMode::Tap),
            Some(NetMode::User),
            Some(NetMode::Auto)
        ]
    );
    assert_eq!(QemuSpec::default().net, NetMode::Auto);
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["platforms"][1]["net"], "tap");
    assert_eq!(value["platforms"][2]["net"], "user");
    assert_eq!(value["platforms"][3]["net"], "auto");
    // A plan stored before the key existed still reads, with the default.
    let mut old = value.clone();
    old["platforms"][3].as_object_mut().unwrap().remove("net");
    let back: Plan = serde_json::from_value(old).unwrap();
    assert_eq!(back, plan);
    // The plan names the mode only where it is not the default.
    let rendered = plan.render();
    assert!(rendered.contains(", net tap"), "{rendered}");
    assert!(rendered.contains(", net user"), "{rendered}");
    assert!(!rendered.contains("net auto"), "{rendered}");
    let default_only = parse("valid.toml", VALID).unwrap().render();
    assert!(!default_only.contains(", net "), "{default_only}");
    for mode in ["auto", "tap", "user"] {
        assert_eq!(NetMode::from_name(mode).unwrap().as_str(), mode);
        assert_eq!(NetMode::from_name(mode).unwrap().to_string(), mode);
    }
    assert_eq!(NetMode::from_name("slirp"), None);
}

#[test]
fn net_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "host"
driver = "host"
net = "tap"

[[platform]]
name = "a"
driver = "qemu"
net = "slirp"

[[platform]]
name = "b"
driver = "qemu"
net = "tapp"

[[platform]]
name = "c"
driver = "qemu"
net = true

[[platform]]
name = "d"
driver = "xen"
net = "user"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (
                7,
                1,
                "net",
                "`net` applies only to driver = \"qemu\", not \"host\"",
            ),
            (
                12,
                7,
                "\"slirp\"",
                "`net` must be one of \"auto\", \"tap\", \"user\", got \"slirp\"",
            ),
            (
                17,
                7,
                "\"tapp\"",
                "`net` must be one of \"auto\", \"tap\", \"user\"",
            ),
            (22, 7, "true", "`net` must be a string"),
            (
                27,
                1,
                "net",
                "`net` applies only to driver = \"qemu\", not \"xen\"",
            ),
        ],
    );
    assert!(err.diagnostics[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("write net = \"user\""));
    assert!(err.diagnostics[2]
        .hint
        .as_deref()
        .unwrap()
        .contains("did you mean `tap`?"));
}

#[test]
fn tsc_mode_is_a_xen_key() {
    let text = r#"name = "tsc"
[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "xen-pvh"
driver = "xen"
type = "pvh"
tsc_mode = "always_emulate"

[[platform]]
name = "xen-pv"
driver = "xen"
type = "pv"

[[workload]]
name = "clock-gettime"
"#;
    let plan = parse("tsc.toml", text).unwrap();
    let modes: Vec<Option<TscMode>> = plan
        .platforms
        .iter()
        .map(|p| match &p.driver {
            Driver::Xen(x) => x.tsc_mode,
            _ => None,
        })
        .collect();
    assert_eq!(modes, [None, Some(TscMode::AlwaysEmulate), None]);
    // Stored (and sent to a machine over SSH or the lab) flat, as in the file; left out when
    // not set, so that plans stored before the key existed read back the same.
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["platforms"][1]["tsc_mode"], "always_emulate");
    assert!(value["platforms"][2].get("tsc_mode").is_none());
    assert_eq!(serde_json::from_value::<Plan>(value).unwrap(), plan);
    // `hvbench plan` shows it.
    let rendered = plan.render();
    assert!(
        rendered.contains("xen-pvh  xen, type pvh, tsc_mode always_emulate"),
        "{rendered}"
    );
    assert!(rendered.contains("xen-pv   xen, type pv\n"), "{rendered}");
    for mode in ["default", "always_emulate", "native", "native_paravirt"] {
        let m = TscMode::from_name(mode).unwrap();
        assert_eq!(m.as_str(), mode);
        assert_eq!(serde_json::to_value(m).unwrap(), mode);
        let one = text.replace("\"always_emulate\"", &format!("{mode:?}"));
        assert!(parse("tsc.toml", &one).is_ok(), "{mode}");
    }
    assert_eq!(TscMode::from_name("emulate"), None);
}

#[test]
fn tsc_mode_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-a"
driver = "xen"
tsc_mode = "always-emulate"

[[platform]]
name = "xen-b"
driver = "xen"
tsc_mode = 2

[[platform]]
name = "kvm"
driver = "qemu"
tsc_mode = "native"

[[platform]]
name = "host"
driver = "host"
tsc_mode = "native"

[[workload]]
name = "clock-gettime"
"#;
    let err = expect_errors(
        text,
        &[
            (
                7,
                12,
                "\"always-emulate\"",
                "`tsc_mode` must be one of \"default\", \"always_emulate\", \"native\", \
                 \"native_paravirt\", got \"always-emulate\"",
            ),
            (12, 12, "2", "`tsc_mode` must be a string, got an integer 2"),
            (
                17,
                1,
                "tsc_mode",
                "`tsc_mode` applies only to driver = \"xen\", not \"qemu\"",
            ),
            (
                22,
                1,
                "tsc_mode",
                "`tsc_mode` applies only to driver = \"xen\", not \"host\"",
            ),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    assert!(
        hint(0).contains("did you mean `always_emulate`?"),
        "{}",
        hint(0)
    );
    assert!(hint(0).contains("xen-tscmode(7)"), "{}", hint(0));
    assert_eq!(hint(2), "remove it, or set driver = \"xen\"");
    assert!(hint(3).contains("driver = \"xen\""), "{}", hint(3));
    // file:line:column in the rendered error.
    assert!(err.to_string().contains("t.toml:7:12"), "{err}");
}

/// Host, lab guests and, per test, more platforms.
fn lab_mix(more: &str) -> String {
    format!(
        "name = \"mix\"\n[guest]\n\
         [[platform]]\nname = \"host\"\ndriver = \"host\"\n\
         [[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\nlab = true\n\
         [[platform]]\nname = \"xen-pv\"\ndriver = \"xen\"\ntype = \"pv\"\nlab = true\n\
         {more}[[workload]]\nname = \"syscall\"\n"
    )
}

#[test]
fn plan_warns_when_lab_and_real_platforms_are_compared() {
    // The default comparison: the host against lab guests. A note, not a warning.
    let plan = parse("mix.toml", &lab_mix("")).unwrap();
    let shown = plan.render();
    assert!(!shown.contains("warning:"), "{shown}");
    let notes: Vec<&str> = shown.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes.len(), 1, "{shown}");
    assert!(
        notes[0].starts_with(
            "note: the lab platforms (kvm, xen-pv) are compared with the host baseline (host), \
             which runs on real hardware"
        ),
        "{shown}"
    );

    // A real guest on this machine beside the lab's.
    let plan = parse(
        "mix.toml",
        &lab_mix("[[platform]]\nname = \"kvm-real\"\ndriver = \"qemu\"\naccel = \"kvm\"\n"),
    )
    .unwrap();
    let shown = plan.render();
    let warning = shown
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning in:\n{shown}"));
    assert!(
        warning.starts_with(
            "warning: this experiment mixes real platforms (kvm-real) with lab platforms (kvm, \
             xen-pv): lab timings are emulated"
        ),
        "{warning}"
    );
    assert!(warning.contains("not comparable"), "{warning}");

    // Platforms on a [[host]] over SSH are real, its bare baseline included.
    let plan = parse(
        "mix.toml",
        &lab_mix(
            "[[host]]\nname = \"box\"\nssh = \"root@192.0.2.1\"\n\
             [[platform]]\nname = \"box-bare\"\ndriver = \"host\"\nhost = \"box\"\n",
        ),
    )
    .unwrap();
    let shown = plan.render();
    assert!(
        shown.contains("warning: this experiment mixes real platforms (box-bare) with lab platforms (kvm, xen-pv)"),
        "{shown}"
    );

    // Lab guests alone, or real ones alone: nothing to say.
    let lab_only = "name = \"l\"\n[guest]\n[[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\n\
                    lab = true\n[[platform]]\nname = \"xen\"\ndriver = \"xen\"\nlab = true\n\
                    [[workload]]\nname = \"syscall\"\n";
    let shown = parse("l.toml", lab_only).unwrap().render();
    assert!(
        !shown.contains("warning:") && !shown.contains("note:"),
        "{shown}"
    );
    let shown = parse("valid.toml", VALID).unwrap().render();
    assert!(
        !shown.contains("warning:") && !shown.contains("note:"),
        "{shown}"
    );
}

#[test]
fn the_dual_boot_lab_machine_counts_as_lab() {
    // Platforms on a [[host]] with lab = true run in the emulated machine: beside lab = true
    // guests they are no mix; beside a real guest they are.
    let text = "name = \"x\"\n[guest]\n[[host]]\nname = \"lab\"\nlab = true\n\
                [[platform]]\nname = \"bare\"\ndriver = \"host\"\nhost = \"lab\"\n\
                [[platform]]\nname = \"xen\"\ndriver = \"xen\"\nhost = \"lab\"\n\
                [[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\nlab = true\n\
                [[workload]]\nname = \"syscall\"\n";
    let shown = parse("t.toml", text).unwrap().render();
    assert!(
        !shown.contains("warning:") && !shown.contains("note:"),
        "{shown}"
    );
    let text = text.replace("lab = true\n[[workload]]", "[[workload]]");
    let shown = parse("t.toml", &text).unwrap().render();
    assert!(
        shown.contains(
            "warning: this experiment mixes real platforms (kvm) with lab platforms (bare, xen)"
        ),
        "{shown}"
    );
}
