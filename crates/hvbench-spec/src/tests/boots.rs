//! Dual-boot hosts: `[[host.boot]]` entries, the emulated dual-boot lab machine
//! (`[[host]] lab = true`), and each platform's `boot`, given or inferred from its driver.

use super::*;

const DUAL: &str = r#"name = "dual-boot"
[guest]

[[host]]
name = "dual"
ssh = "root@192.0.2.20"

[[host.boot]]
name = "xen"
select = "grub-reboot 'Debian GNU/Linux, with Xen hypervisor'"

[[host.boot]]
name = "linux"
select = "grub-reboot 'Debian GNU/Linux'"
reboot = "systemctl reboot"
hypervisor = "kvm"
timeout_s = 900

[[platform]]
name = "bare"
driver = "host"
host = "dual"

[[platform]]
name = "xen-pvh"
driver = "xen"
host = "dual"

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
host = "dual"

[[platform]]
name = "local"
driver = "host"

[[workload]]
name = "syscall"
"#;

/// An experiment with host `dual` holding these boot entries (after its ssh line, line 6 on),
/// and these platforms on it.
fn dual(boots: &str, platforms: &str) -> String {
    format!(
        "name = \"x\"\n[guest]\n[[host]]\nname = \"dual\"\nssh = \"root@192.0.2.20\"\n{boots}\
         {platforms}[[workload]]\nname = \"syscall\"\n"
    )
}

const XEN_KVM: &str = "[[host.boot]]\nname = \"xen\"\nselect = \"s xen\"\n\
                       [[host.boot]]\nname = \"kvm\"\nselect = \"s kvm\"\n";

#[test]
fn a_dual_boot_host_and_where_its_platforms_run() {
    let plan = parse("t.toml", DUAL).unwrap();
    let host = &plan.hosts[0];
    assert!(!host.lab && host.is_dual_boot());
    assert_eq!(
        host.boots,
        vec![
            BootEntry {
                name: "xen".into(),
                select: "grub-reboot 'Debian GNU/Linux, with Xen hypervisor'".into(),
                // The defaults.
                reboot: "reboot".into(),
                // Taken from the name.
                hypervisor: Hypervisor::Xen,
                timeout_s: 600,
            },
            BootEntry {
                name: "linux".into(),
                select: "grub-reboot 'Debian GNU/Linux'".into(),
                reboot: "systemctl reboot".into(),
                hypervisor: Hypervisor::Kvm,
                timeout_s: 900,
            },
        ]
    );
    assert_eq!(host.boot("linux").map(|b| b.timeout_s), Some(900));
    // Inferred from the drivers: the bare-metal baseline and QEMU under plain Linux, Xen as dom0.
    let boots: Vec<(&str, Option<&str>)> = plan
        .platforms
        .iter()
        .map(|p| (p.name.as_str(), p.boot.as_deref()))
        .collect();
    assert_eq!(
        boots,
        [
            ("bare", Some("linux")),
            ("xen-pvh", Some("xen")),
            ("kvm", Some("linux")),
            ("local", None),
        ]
    );

    // Stored with the run as JSON, and read back.
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["hosts"][0]["boots"][0]["hypervisor"], "xen");
    assert_eq!(value["platforms"][1]["boot"], "xen");
    assert!(value["platforms"][3].get("boot").is_none());
}

#[test]
fn hypervisor_names_and_display() {
    assert_eq!(Hypervisor::Xen.as_str(), "xen");
    assert_eq!(Hypervisor::Kvm.to_string(), "kvm");
    assert_eq!(Hypervisor::from_name("kvm"), Some(Hypervisor::Kvm));
    assert_eq!(Hypervisor::from_name("qemu"), None);
    assert_eq!(serde_json::to_string(&Hypervisor::Xen).unwrap(), "\"xen\"");
}

#[test]
fn an_explicit_boot_wins_over_inference() {
    let text = dual(
        "[[host.boot]]\nname = \"xen\"\nselect = \"s xen\"\n\
         [[host.boot]]\nname = \"kvm\"\nselect = \"s kvm\"\n\
         [[host.boot]]\nname = \"kvm-new\"\nselect = \"s new\"\nhypervisor = \"kvm\"\n",
        "[[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\nhost = \"dual\"\nboot = \"kvm-new\"\n\
         [[platform]]\nname = \"odd\"\ndriver = \"xen\"\nhost = \"dual\"\nboot = \"xen\"\n",
    );
    let plan = parse("t.toml", &text).unwrap();
    assert_eq!(plan.platforms[0].boot.as_deref(), Some("kvm-new"));
    assert_eq!(plan.platforms[1].boot.as_deref(), Some("xen"));
}

#[test]
fn a_lab_host_gets_the_default_boot_entries() {
    let text = "name = \"x\"\n[guest]\n[[host]]\nname = \"lab\"\nlab = true\n\
                [[platform]]\nname = \"xen\"\ndriver = \"xen\"\nhost = \"lab\"\n\
                [[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\nhost = \"lab\"\n\
                [[platform]]\nname = \"bare\"\ndriver = \"host\"\nhost = \"lab\"\n\
                [[workload]]\nname = \"syscall\"\n";
    let plan = parse("t.toml", text).unwrap();
    assert_eq!(
        plan.hosts,
        vec![HostSpec {
            name: "lab".into(),
            // A placeholder until hvbench boots the lab machine.
            ssh: SshTarget {
                user: Some("root".into()),
                address: "127.0.0.1".into(),
                port: None,
            },
            identity_file: None,
            known_hosts: None,
            cache_dir: None,
            lab: true,
            boots: vec![
                BootEntry {
                    name: "xen".into(),
                    select: "hvbench-lab-select xen".into(),
                    reboot: "reboot".into(),
                    hypervisor: Hypervisor::Xen,
                    timeout_s: 600,
                },
                BootEntry {
                    name: "kvm".into(),
                    select: "hvbench-lab-select kvm".into(),
                    reboot: "reboot".into(),
                    hypervisor: Hypervisor::Kvm,
                    timeout_s: 600,
                },
            ],
        }]
    );
    assert_eq!(plan.hosts[0].boots, lab_boots());
    let boots: Vec<Option<&str>> = plan.platforms.iter().map(|p| p.boot.as_deref()).collect();
    assert_eq!(boots, [Some("xen"), Some("kvm"), Some("kvm")]);

    // Its own entries replace the defaults.
    let text = text.replace(
        "lab = true\n",
        "lab = true\n[[host.boot]]\nname = \"xen\"\nselect = \"hvbench-lab-select xen\"\n\
         timeout_s = 1200\n[[host.boot]]\nname = \"kvm\"\nselect = \"hvbench-lab-select kvm\"\n",
    );
    let plan = parse("t.toml", &text).unwrap();
    assert_eq!(plan.hosts[0].boots[0].timeout_s, 1200);
    assert_eq!(plan.hosts[0].boots.len(), 2);

    let shown = plan.render();
    assert!(
        shown.contains("lab  the emulated dual-boot lab machine (hvbench boots it"),
        "{shown}"
    );
    assert!(!shown.contains("ssh root@127.0.0.1"), "{shown}");
}

#[test]
fn a_lab_host_takes_no_ssh_keys_or_cache() {
    let text = "name = \"x\"\n[[host]]\nname = \"lab\"\nlab = true\nssh = \"root@192.0.2.1\"\n\
                identity_file = \"k\"\nknown_hosts = \"kh\"\ncache_dir = \"/c\"\n\
                [[workload]]\nname = \"syscall\"\n[[platform]]\nname = \"h\"\ndriver = \"host\"\n";
    let err = expect_errors(
        text,
        &[
            (5, 1, "ssh", "`ssh` cannot go with lab = true"),
            (
                6,
                1,
                "identity_file",
                "`identity_file` cannot go with lab = true",
            ),
            (
                7,
                1,
                "known_hosts",
                "`known_hosts` cannot go with lab = true",
            ),
            (8, 1, "cache_dir", "`cache_dir` cannot go with lab = true"),
        ],
    );
    let hint = err.diagnostics[0].hint.clone().unwrap();
    assert!(hint.contains("hvbench fills in `ssh`"), "{hint}");

    // `lab` is true or false; without it, `ssh` is required as before.
    expect_one(
        &text.replace("lab = true", "lab = \"yes\""),
        4,
        7,
        "\"yes\"",
        "`lab` must be true or false",
    );
    expect_one(
        "name = \"x\"\n[[host]]\nname = \"box\"\nlab = 1\n[[workload]]\nname = \"syscall\"\n\
         [[platform]]\nname = \"h\"\ndriver = \"host\"\n",
        4,
        7,
        "1",
        "`lab` must be true or false",
    );
    let d = expect_one(
        "name = \"x\"\n[[host]]\nname = \"box\"\nlab = false\n[[workload]]\nname = \"syscall\"\n\
         [[platform]]\nname = \"h\"\ndriver = \"host\"\n",
        2,
        1,
        "[[host]]",
        "host `box` has no `ssh` address",
    );
    assert!(d.hint.unwrap().contains("lab = true"));
}

#[test]
fn inference_needs_exactly_one_candidate() {
    // Two KVM entries: a qemu platform cannot choose.
    let text = dual(
        "[[host.boot]]\nname = \"kvm\"\nselect = \"s\"\n\
         [[host.boot]]\nname = \"kvm-new\"\nselect = \"s\"\nhypervisor = \"kvm\"\n",
        "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nhost = \"dual\"\n",
    );
    let d = expect_one(
        &text,
        16,
        8,
        "\"dual\"",
        "platform `q` (driver qemu) could run under 2 boot entries of host `dual` with \
         hypervisor = \"kvm\": kvm, kvm-new",
    );
    assert!(d.hint.unwrap().contains("boot = \"kvm\""));

    // The bare-metal baseline needs plain Linux too.
    let text = dual(
        "[[host.boot]]\nname = \"kvm\"\nselect = \"s\"\n\
         [[host.boot]]\nname = \"kvm-new\"\nselect = \"s\"\nhypervisor = \"kvm\"\n",
        "[[platform]]\nname = \"b\"\ndriver = \"host\"\nhost = \"dual\"\n",
    );
    expect_one(
        &text,
        16,
        8,
        "\"dual\"",
        "platform `b` (driver host) could run",
    );

    // No Xen entry: a xen platform has none.
    let text = dual(
        "[[host.boot]]\nname = \"kvm\"\nselect = \"s\"\n",
        "[[platform]]\nname = \"x\"\ndriver = \"xen\"\nhost = \"dual\"\n",
    );
    let d = expect_one(
        &text,
        12,
        8,
        "\"dual\"",
        "needs host `dual` booted into Xen (as dom0), but no boot entry of `dual` has \
         hypervisor = \"xen\"",
    );
    assert!(d.hint.unwrap().contains("its entries are: kvm (kvm)"));
}

#[test]
fn boot_names_an_entry_of_the_platforms_host() {
    let text = dual(
        XEN_KVM,
        "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nhost = \"dual\"\nboot = \"kvn\"\n",
    );
    let d = expect_one(
        &text,
        16,
        8,
        "\"kvn\"",
        "unknown boot entry `kvn` of host `dual`",
    );
    let hint = d.hint.unwrap();
    assert!(hint.contains("did you mean `kvm`?"), "{hint}");
    assert!(
        hint.contains("the boot entries of `dual` are: xen, kvm"),
        "{hint}"
    );

    // Not a string.
    let text = dual(
        XEN_KVM,
        "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nhost = \"dual\"\nboot = 1\n",
    );
    expect_one(&text, 16, 8, "1", "`boot` must be a string");
}

#[test]
fn boot_needs_a_host_with_boot_entries() {
    // A host without boot entries.
    let text = dual(
        "",
        "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nhost = \"dual\"\nboot = \"kvm\"\n",
    );
    let d = expect_one(
        &text,
        10,
        1,
        "boot",
        "platform `q` has `boot`, but host `dual` has no boot entries",
    );
    assert!(d.hint.unwrap().contains("[[host.boot]]"));

    // No host: this machine is not rebooted.
    let text = dual(
        XEN_KVM,
        "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nboot = \"kvm\"\n",
    );
    expect_one(
        &text,
        15,
        1,
        "boot",
        "platform `q` has `boot` but no `host`",
    );

    // The lab on this machine is not rebooted either.
    let text = dual(
        XEN_KVM,
        "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nlab = true\nboot = \"kvm\"\n",
    );
    let d = expect_one(&text, 16, 1, "boot", "`boot` cannot go with lab = true");
    assert!(d.hint.unwrap().contains("[[host]] with lab = true"));

    // Platforms on a host without boot entries have none.
    let plan = parse(
        "t.toml",
        &dual(
            "",
            "[[platform]]\nname = \"q\"\ndriver = \"qemu\"\nhost = \"dual\"\n",
        ),
    )
    .unwrap();
    assert_eq!(plan.platforms[0].boot, None);
    assert!(!plan.hosts[0].is_dual_boot());
}

#[test]
fn boot_entry_errors() {
    let p = "[[platform]]\nname = \"b\"\ndriver = \"host\"\n";
    // Lines 6 to 8: the entry.
    for (entry, line, column, at, message) in [
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"s\"\ntimeout_s = 29\n",
            9,
            13,
            "29",
            "`timeout_s` must be from 30 to 3600, got 29",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"s\"\ntimeout_s = 3601\n",
            9,
            13,
            "3601",
            "`timeout_s` must be from 30 to 3600, got 3601",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"s\"\ntimeout_s = \"60\"\n",
            9,
            13,
            "\"60\"",
            "`timeout_s` must be an integer",
        ),
        (
            "[[host.boot]]\nname = \"Xen 4\"\nselect = \"s\"\n",
            7,
            8,
            "\"Xen 4\"",
            "a boot entry `name` must be 1 to 64 lowercase letters",
        ),
        (
            "[[host.boot]]\nselect = \"s\"\nhypervisor = \"xen\"\n",
            6,
            1,
            "[[host.boot]]",
            "this boot entry of host `dual` has no `name`",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\n",
            6,
            1,
            "[[host.boot]]",
            "boot entry `xen` of host `dual` has no `select`",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"  \"\n",
            8,
            10,
            "\"  \"",
            "`select` contains nothing but whitespace",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"a\\nb\"\n",
            8,
            10,
            "\"a",
            "`select` contains the control character '\\n'",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"s\"\nreboot = \"\"\n",
            9,
            10,
            "\"\"",
            "`reboot` contains nothing but whitespace",
        ),
        (
            "[[host.boot]]\nname = \"dom0\"\nselect = \"s\"\n",
            6,
            1,
            "[[host.boot]]",
            "boot entry `dom0` of host `dual` has no `hypervisor`",
        ),
        (
            "[[host.boot]]\nname = \"dom0\"\nselect = \"s\"\nhypervisor = \"qemu\"\n",
            9,
            14,
            "\"qemu\"",
            "`hypervisor` must be one of \"xen\", \"kvm\", got \"qemu\"",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"s\"\nkernel = \"x\"\n",
            9,
            1,
            "kernel",
            "unknown key `kernel` in [[host.boot]]",
        ),
        ("boot = []\n", 6, 8, "[]", "`boot` is empty"),
        (
            "boot = \"xen\"\n",
            6,
            8,
            "\"xen\"",
            "`boot` must be an array of tables",
        ),
        (
            "[[host.boot]]\nname = \"xen\"\nselect = \"s\"\n\
             [[host.boot]]\nname = \"xen\"\nselect = \"t\"\n",
            10,
            8,
            "\"xen\"",
            "duplicate boot entry name `xen`",
        ),
    ] {
        expect_one(&dual(entry, p), line, column, at, message);
    }
}

#[test]
fn render_shows_boot_entries_and_each_platforms_boot() {
    let text = parse("t.toml", DUAL).unwrap().render();
    for expected in [
        "dual  ssh root@192.0.2.20, cache ~/.cache/hvbench (default); runs bare, xen-pvh, kvm",
        "rebooted between 2 boot entries, alternating their order each round:",
        "boot xen    xen, select `grub-reboot 'Debian GNU/Linux, with Xen hypervisor'`, reboot \
         `reboot`, SSH within 600 s",
        "boot linux  kvm, select `grub-reboot 'Debian GNU/Linux'`, reboot `systemctl reboot`, \
         SSH within 900 s",
        "bare     on dual, boot linux  the agent as a plain process on dual (its baseline)",
        "xen-pvh  on dual, boot xen    xen, type pvh",
        "local    on this machine      the agent as a plain process on this machine (baseline)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn plans_stored_before_boot_entries_still_deserialise() {
    let plan = parse("t.toml", DUAL).unwrap();
    let mut value = serde_json::to_value(&plan).unwrap();
    let obj = value.as_object_mut().unwrap();
    for h in obj["hosts"].as_array_mut().unwrap() {
        let h = h.as_object_mut().unwrap();
        h.remove("lab");
        h.remove("boots");
    }
    for p in obj["platforms"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("boot");
    }
    let old: Plan = serde_json::from_value(value).unwrap();
    assert!(!old.hosts[0].lab && old.hosts[0].boots.is_empty());
    assert!(old.platforms.iter().all(|p| p.boot.is_none()));
}
