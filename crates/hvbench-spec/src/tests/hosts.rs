//! `[[host]]` tables and a platform's `host = "NAME"`: machines reached over SSH, their
//! addresses, paths and cache directory, and where each platform runs.

use super::*;

const TWO_HOSTS: &str = r#"name = "two-hosts"
[guest]

[[host]]
name = "xenbox"
ssh = "root@192.0.2.10:2222"
identity_file = "keys/id_ed25519"
known_hosts = "keys/known_hosts"
cache_dir = "/var/cache/hvbench"

[[host]]
name = "kvmbox"
ssh = "kvm-lab"

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "xen-pv"
driver = "xen"
type = "pv"
host = "xenbox"

[[platform]]
name = "xenbox-bare"
driver = "host"
host = "xenbox"

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
host = "kvmbox"

[[workload]]
name = "syscall"
"#;

/// An experiment with one `[[host]]` whose `ssh` is `ssh`, and a platform on it.
fn with_ssh(ssh: &str) -> String {
    format!(
        "name = \"x\"\n[[host]]\nname = \"box\"\nssh = \"{ssh}\"\n[[platform]]\nname = \"b\"\n\
         driver = \"host\"\nhost = \"box\"\n[[workload]]\nname = \"syscall\"\n"
    )
}

#[test]
fn two_hosts_round_trip_into_the_plan() {
    let plan = parse("t.toml", TWO_HOSTS).unwrap();
    assert_eq!(
        plan.hosts,
        vec![
            HostSpec {
                name: "xenbox".into(),
                ssh: SshTarget {
                    user: Some("root".into()),
                    address: "192.0.2.10".into(),
                    port: Some(2222),
                },
                // `parse` reads no file and leaves paths as written.
                identity_file: Some(PathBuf::from("keys/id_ed25519")),
                known_hosts: Some(PathBuf::from("keys/known_hosts")),
                cache_dir: Some("/var/cache/hvbench".into()),
                lab: false,
                boots: Vec::new(),
            },
            HostSpec {
                name: "kvmbox".into(),
                ssh: SshTarget {
                    user: None,
                    address: "kvm-lab".into(),
                    port: None,
                },
                identity_file: None,
                known_hosts: None,
                cache_dir: None,
                lab: false,
                boots: Vec::new(),
            },
        ]
    );
    let hosts: Vec<(&str, Option<&str>)> = plan
        .platforms
        .iter()
        .map(|p| (p.name.as_str(), p.host.as_deref()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("host", None),
            ("xen-pv", Some("xenbox")),
            ("xenbox-bare", Some("xenbox")),
            ("kvm", Some("kvmbox")),
        ]
    );
    // A host driver on a remote host: that machine's bare-metal baseline.
    assert_eq!(plan.platforms[2].driver, Driver::Host);
    assert!(plan.platforms[2].is_remote() && !plan.platforms[0].is_remote());
    assert_eq!(
        plan.host_of(&plan.platforms[1]).map(|h| h.ssh.to_string()),
        Some("root@192.0.2.10:2222".to_string())
    );
    assert_eq!(plan.host_of(&plan.platforms[0]), None);
    assert_eq!(plan.hosts[0].cache_dir_or_default(), "/var/cache/hvbench");
    assert_eq!(plan.hosts[1].cache_dir_or_default(), "~/.cache/hvbench");
    assert_eq!(plan.hosts[1].ssh.destination(), "kvm-lab");

    // Stored with the run as JSON, and read back.
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["platforms"][1]["host"], "xenbox");
    assert_eq!(value["hosts"][0]["ssh"]["port"], 2222);
    // A platform on this machine stores no `host`, as before hosts existed.
    assert!(value["platforms"][0].get("host").is_none());
}

#[test]
fn load_makes_key_paths_absolute_without_checking_them() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("exp.toml");
    let text = TWO_HOSTS.replace(
        "known_hosts = \"keys/known_hosts\"",
        "known_hosts = \"/etc/ssh/hvbench_known_hosts\"",
    );
    std::fs::write(&spec, &text).unwrap();
    // Neither file exists: `hvbench plan` must work on a machine without the keys.
    let plan = load(&spec).unwrap();
    let key = plan.hosts[0].identity_file.clone().unwrap();
    assert!(key.is_absolute(), "{}", key.display());
    assert_eq!(key, dir.path().join("keys/id_ed25519"));
    assert_eq!(
        plan.hosts[0].known_hosts,
        Some(PathBuf::from("/etc/ssh/hvbench_known_hosts"))
    );

    // `~/` is this user's home.
    let text = text.replace("keys/id_ed25519", "~/.ssh/id_ed25519");
    std::fs::write(&spec, &text).unwrap();
    let plan = load(&spec).unwrap();
    if let Some(home) = std::env::var_os("HOME") {
        assert_eq!(
            plan.hosts[0].identity_file,
            Some(std::path::absolute(PathBuf::from(home).join(".ssh/id_ed25519")).unwrap())
        );
    }
}

#[test]
fn render_shows_hosts_and_where_each_platform_runs() {
    let plan = parse("t.toml", TWO_HOSTS).unwrap();
    let text = plan.render();
    for expected in [
        "hosts (2, reached over SSH):",
        "xenbox  ssh root@192.0.2.10:2222, key keys/id_ed25519, known hosts keys/known_hosts, \
         cache /var/cache/hvbench; runs xen-pv, xenbox-bare",
        "kvmbox  ssh kvm-lab (user and options from ~/.ssh/config), cache ~/.cache/hvbench \
         (default); runs kvm",
        "platforms (4), and where each runs:",
        "host         on this machine  the agent as a plain process on this machine (baseline)",
        "xen-pv       on xenbox        xen, type pv",
        "xenbox-bare  on xenbox        the agent as a plain process on xenbox (its baseline)",
        "kvm          on kvmbox        qemu, accel kvm",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    // A host no platform uses is allowed, and said so.
    let unused = TWO_HOSTS.replace("host = \"kvmbox\"\n", "");
    let plan = parse("t.toml", &unused).unwrap();
    assert_eq!(plan.hosts.len(), 2);
    assert!(plan
        .render()
        .contains("kvmbox  ssh kvm-lab (user and options from ~/.ssh/config), cache ~/.cache/hvbench (default); no platform runs here"));

    // Without hosts, the platform list is as it always was.
    let plain = parse("valid.toml", VALID).unwrap().render();
    assert!(!plain.contains("hosts ("), "{plain}");
    assert!(!plain.contains("on this machine  "), "{plain}");
}

#[test]
fn plans_stored_before_hosts_still_deserialise() {
    let plan = parse("valid.toml", VALID).unwrap();
    let mut value = serde_json::to_value(&plan).unwrap();
    let obj = value.as_object_mut().unwrap();
    assert_eq!(obj.remove("hosts"), Some(serde_json::json!([])));
    for p in obj["platforms"].as_array().unwrap() {
        assert!(p.get("host").is_none(), "{p}");
    }
    let old: Plan = serde_json::from_value(value).unwrap();
    assert_eq!(old, plan);
    assert!(old.hosts.is_empty());
    assert!(old.platforms.iter().all(|p| p.host.is_none()));
}

#[test]
fn accepted_ssh_forms() {
    for (text, user, address, port) in [
        ("root@192.0.2.10", Some("root"), "192.0.2.10", None),
        (
            "root@192.0.2.10:2222",
            Some("root"),
            "192.0.2.10",
            Some(2222),
        ),
        (
            "bench.user@xen-1.example.org",
            Some("bench.user"),
            "xen-1.example.org",
            None,
        ),
        ("_svc@host:65535", Some("_svc"), "host", Some(65535)),
        ("root@[::1]", Some("root"), "::1", None),
        (
            "root@[2001:db8::10]:22",
            Some("root"),
            "2001:db8::10",
            Some(22),
        ),
        ("xenbox", None, "xenbox", None),
        ("my_lab.box:2200", None, "my_lab.box", Some(2200)),
        ("[::1]:2222", None, "::1", Some(2222)),
    ] {
        let t = SshTarget::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            (t.user.as_deref(), t.address.as_str(), t.port),
            (user, address, port),
            "{text}"
        );
        // Displayed as written.
        assert_eq!(t.to_string(), text);
        // And accepted in a file.
        let plan = parse("t.toml", &with_ssh(text)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.hosts[0].ssh, t);
    }
    assert_eq!(
        SshTarget::parse("root@[::1]:22").unwrap().destination(),
        "root@::1"
    );
}

#[test]
fn malformed_ssh_addresses() {
    for (ssh, why) in [
        ("root@", "the address is empty"),
        ("@h", "the user before `@` is empty"),
        ("root@h:0", "the port 0 is not from 1 to 65535"),
        ("root@h:70000", "the port 70000 is not from 1 to 65535"),
        ("root@h:", "the port after `:` is empty"),
        ("root@h:ssh", "is not a number"),
        ("root@h;rm", "contains `;`"),
        ("root@h$(id)", "contains `$`"),
        ("root@-oProxyCommand=x", "starts with `-`"),
        ("-oProxyCommand=x", "starts with `-`"),
        ("ro ot@h", "contains a space"),
        ("root@[::1", "no closing `]`"),
        ("root@[::1]x", "only `:port` may follow it"),
        ("root@[not-v6]:22", "is not an IPv6 address"),
        ("root@h:22:33", "more than one `:`"),
        ("root@::1", "in brackets"),
        ("Root@h", "must start with a lowercase letter"),
        ("root@999.1.1.1", "is not an IPv4 address"),
        ("root@a..b", "empty part between dots"),
        ("root@h\\tx", "control character"),
        ("", "it is empty"),
    ] {
        let text = with_ssh(ssh);
        // The value starts after `ssh = ` on line 4.
        let d = expect_one(&text, 4, 7, "\"", "`ssh` is a malformed ssh address");
        assert!(d.message.contains(why), "{ssh:?}: {d}");
        let hint = d.hint.unwrap();
        assert!(
            hint.contains("\"user@address:port\"") && hint.contains("alias of ~/.ssh/config"),
            "{hint}"
        );
    }
    let long_user = format!("{}@h", "a".repeat(33));
    assert!(SshTarget::parse(&long_user)
        .unwrap_err()
        .contains("longer than 32"));
}

#[test]
fn host_table_errors() {
    let text = r#"name = "x"

[[host]]
ssh = "root@h"

[[host]]
name = "Xen Box"

[[host]]
name = "local"
ssh = 22
port = 2222
identity = "k"

[[host]]
name = "c"
ssh = "c"
cache_dir = "var/cache"
identity_file = ""
known_hosts = "~root/known_hosts"

[[host]]
name = "d"
ssh = "d"
cache_dir = "/tmp/$(reboot)"
identity_file = "keys/%h"

[[host]]
name = "e"
ssh = "e"
cache_dir = "~/.."
known_hosts = "my keys/known_hosts"

[[host]]
name = "f"
ssh = "f"
cache_dir = "/"

[[host]]
name = "g"
ssh = "g"
cache_dir = "/srv/hv bench"

[[platform]]
name = "h"
driver = "host"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (3, 1, "[[host]]", "this [[host]] has no `name`"),
            (6, 1, "[[host]]", "this [[host]] has no `ssh` address"),
            (
                7,
                8,
                "\"Xen Box\"",
                "a host `name` must be 1 to 64 lowercase",
            ),
            (10, 8, "\"local\"", "the host name `local` is reserved"),
            (11, 7, "22", "`ssh` must be a string, got an integer 22"),
            (12, 1, "port", "unknown key `port` in [[host]]"),
            (13, 1, "identity", "unknown key `identity` in [[host]]"),
            (
                18,
                13,
                "\"var/cache\"",
                "`cache_dir` must be an absolute path or start with `~/`",
            ),
            (19, 17, "\"\"", "`identity_file` is empty"),
            (
                20,
                15,
                "\"~root",
                "`known_hosts` starts with `~` but not `~/`",
            ),
            (25, 13, "\"/tmp/$", "`cache_dir` contains `$`"),
            (
                26,
                17,
                "\"keys/%h\"",
                "`identity_file` `keys/%h` contains `%`",
            ),
            (31, 13, "\"~/..\"", "`cache_dir` contains `..`"),
            (32, 15, "\"my keys", "contains a space"),
            (37, 13, "\"/\"", "is the whole root file system"),
            (42, 13, "\"/srv/hv bench\"", "`cache_dir` contains a space"),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    assert!(hint(2).contains("try name = \"xen-box\""), "{}", hint(2));
    assert!(hint(5).contains("ssh = \"root@192.0.2.10:2222\""));
    assert!(
        hint(6).contains("did you mean `identity_file`?"),
        "{}",
        hint(6)
    );
    assert!(hint(10).contains("/var/cache/hvbench"));
}

#[test]
fn duplicate_host_names() {
    let text = r#"name = "x"
[[host]]
name = "box"
ssh = "root@a"

[[host]]
name = "box"
ssh = "root@b"

[[platform]]
name = "b"
driver = "host"
host = "box"

[[workload]]
name = "syscall"
"#;
    let d = expect_one(text, 7, 8, "\"box\"", "duplicate host name `box`");
    assert!(d.hint.unwrap().contains("line 3"));
}

#[test]
fn unknown_hosts_on_platforms() {
    let text = r#"name = "x"
[guest]

[[host]]
name = "xenbox"
ssh = "root@a"

[[platform]]
name = "a"
driver = "xen"
host = "xenbx"

[[platform]]
name = "b"
driver = "host"
host = "local"

[[platform]]
name = "c"
driver = "qemu"
host = 3

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (11, 8, "\"xenbx\"", "unknown host `xenbx`"),
            (16, 8, "\"local\"", "unknown host `local`"),
            (21, 8, "3", "`host` must be a string, got an integer 3"),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    assert!(hint(0).contains("did you mean `xenbox`?"), "{}", hint(0));
    assert!(hint(0).contains("the hosts are: xenbox"));
    assert!(hint(1).contains("leave `host` out"), "{}", hint(1));

    // With no [[host]] at all, the hint says how to declare one.
    let text = "name = \"x\"\n[[platform]]\nname = \"b\"\ndriver = \"host\"\nhost = \"far\"\n\
                [[workload]]\nname = \"syscall\"\n";
    let d = expect_one(text, 5, 8, "\"far\"", "unknown host `far`");
    assert!(d
        .hint
        .unwrap()
        .contains("[[host]] table with name = \"far\""));

    // A host whose own name is wrong is reported once, not again at the platform.
    let text = "name = \"x\"\n[[host]]\nname = \"Far\"\nssh = \"f\"\n[[platform]]\nname = \"b\"\n\
                driver = \"host\"\nhost = \"Far\"\n[[workload]]\nname = \"syscall\"\n";
    expect_one(text, 3, 8, "\"Far\"", "a host `name` must be");
}

#[test]
fn host_with_lab_is_refused() {
    let text = r#"name = "x"
[guest]

[[host]]
name = "xenbox"
ssh = "root@a"

[[platform]]
name = "xen-pv"
driver = "xen"
lab = true
host = "xenbox"

[[workload]]
name = "syscall"
"#;
    let d = expect_one(text, 12, 1, "host", "`host` cannot go with lab = true");
    assert!(d.hint.unwrap().contains("the lab runs on this machine"));
    // lab = false beside host is fine.
    assert!(parse("t.toml", &text.replace("lab = true", "lab = false")).is_ok());
}

#[test]
fn hosts_are_an_array_of_tables() {
    let text = "name = \"x\"\n[host]\nname = \"a\"\nssh = \"a\"\n[[platform]]\nname = \"b\"\n\
                driver = \"host\"\n[[workload]]\nname = \"syscall\"\n";
    let d = expect_one(text, 2, 1, "[host]", "`host` must be an array of tables");
    assert!(d.hint.unwrap().contains("[[host]] with double brackets"));

    let text = "name = \"x\"\nhosts = []\n[[platform]]\nname = \"b\"\ndriver = \"host\"\n\
                [[workload]]\nname = \"syscall\"\n";
    let d = expect_one(text, 2, 1, "hosts", "unknown key `hosts`");
    assert!(d.hint.unwrap().contains("[[host]] table"));

    // An empty list of hosts is no hosts.
    let text = "name = \"x\"\nhost = []\n[[platform]]\nname = \"b\"\ndriver = \"host\"\n\
                [[workload]]\nname = \"syscall\"\n";
    assert!(parse("t.toml", text).unwrap().hosts.is_empty());
}

#[test]
fn ssh_is_not_a_driver_but_a_host() {
    let text = "name = \"x\"\n[[platform]]\nname = \"b\"\ndriver = \"ssh\"\n\
                [[workload]]\nname = \"syscall\"\n";
    let d = expect_one(
        text,
        4,
        10,
        "\"ssh\"",
        "the `ssh` driver is not yet supported",
    );
    assert!(d.hint.unwrap().contains("[[host]]"));
}
