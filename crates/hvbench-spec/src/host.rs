//! Machines reached over SSH: the `[[host]]` tables of an experiment file, as validated values
//! (see docs/architecture.md). A platform with `host = "NAME"` runs on that machine; without,
//! on this one. A host may be a dual-boot machine (`[[host.boot]]`): hvbench reboots it between
//! its boot entries, Xen and KVM, during one campaign (docs/architecture.md, "Dual-boot hosts").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// The remote cache directory used when a `[[host]]` gives no `cache_dir`; `~/` is the remote
/// user's home.
pub const DEFAULT_CACHE_DIR: &str = "~/.cache/hvbench";

/// A machine reached over SSH (`[[host]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// `[a-z0-9-]+`, 1..=64 characters, unique among the hosts, never `local`.
    pub name: String,
    pub ssh: SshTarget,
    /// `ssh -i`. [`crate::load`] makes a relative path relative to the spec file's directory
    /// and absolute (`~/` is this user's home); [`crate::parse`] leaves it as written. Its
    /// existence is not checked here: `hvbench plan` works on any machine.
    pub identity_file: Option<PathBuf>,
    /// The known-hosts file that pins the host's key; resolved as `identity_file`.
    pub known_hosts: Option<PathBuf>,
    /// The remote cache directory: absolute, or starting with `~/` (the remote user's home);
    /// only characters that need no quoting in a shell. `None`: [`DEFAULT_CACHE_DIR`].
    pub cache_dir: Option<String>,
    /// hvbench's emulated dual-boot lab machine (`lab = true`): hvbench boots it and fills in
    /// `ssh`, `identity_file`, `known_hosts` and `cache_dir` then; until then `ssh` is
    /// [`SshTarget::lab_placeholder`] and the others are `None`.
    #[serde(default)]
    pub lab: bool,
    /// The boot entries (`[[host.boot]]`) hvbench reboots the machine between, in file order;
    /// empty: the machine is used as it is booted. A lab host without `[[host.boot]]` gets
    /// [`lab_boots`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boots: Vec<BootEntry>,
}

impl HostSpec {
    /// The remote cache directory, the default filled in.
    pub fn cache_dir_or_default(&self) -> &str {
        self.cache_dir.as_deref().unwrap_or(DEFAULT_CACHE_DIR)
    }

    /// The boot entry of this name.
    pub fn boot(&self, name: &str) -> Option<&BootEntry> {
        self.boots.iter().find(|b| b.name == name)
    }

    /// Whether hvbench reboots this machine between boot entries.
    pub fn is_dual_boot(&self) -> bool {
        !self.boots.is_empty()
    }
}

/// The hypervisor a boot entry brings up: Xen (the machine boots as Xen's dom0) or KVM (plain
/// Linux, which is also the bare-metal baseline's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hypervisor {
    Xen,
    Kvm,
}

impl Hypervisor {
    pub const ALL: [Hypervisor; 2] = [Hypervisor::Xen, Hypervisor::Kvm];

    /// The spelling of the spec file: `xen`, `kvm`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Hypervisor::Xen => "xen",
            Hypervisor::Kvm => "kvm",
        }
    }

    pub fn from_name(name: &str) -> Option<Hypervisor> {
        Hypervisor::ALL.into_iter().find(|h| h.as_str() == name)
    }
}

impl fmt::Display for Hypervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reboot command of a boot entry that gives none.
pub const DEFAULT_REBOOT: &str = "reboot";
/// How long hvbench waits for SSH after a reboot when a boot entry gives no `timeout_s`.
pub const DEFAULT_BOOT_TIMEOUT_S: u64 = 600;

/// One way a dual-boot host can come up (`[[host.boot]]`): the command that makes the next boot
/// this entry, the command that reboots, and what should be running afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEntry {
    /// `[a-z0-9-]+`, 1..=64 characters, unique within the host; platforms name it in `boot`.
    pub name: String,
    /// A shell command run on the host that makes the next boot this entry, e.g.
    /// `grub-reboot 'Debian GNU/Linux, with Xen hypervisor'`. Non-empty, no control characters.
    pub select: String,
    /// The shell command that reboots the host; default [`DEFAULT_REBOOT`].
    pub reboot: String,
    /// What the entry brings up; checked after every reboot.
    pub hypervisor: Hypervisor,
    /// How long to wait for SSH after the reboot, 30..=3600 s; default
    /// [`DEFAULT_BOOT_TIMEOUT_S`].
    pub timeout_s: u64,
}

/// The boot entries of a lab host (`lab = true`) without `[[host.boot]]`: `xen`, then `kvm`,
/// selected with the lab machine's `hvbench-lab-select`.
pub fn lab_boots() -> Vec<BootEntry> {
    Hypervisor::ALL
        .into_iter()
        .map(|h| BootEntry {
            name: h.as_str().to_string(),
            select: format!("hvbench-lab-select {h}"),
            reboot: DEFAULT_REBOOT.to_string(),
            hypervisor: h,
            timeout_s: DEFAULT_BOOT_TIMEOUT_S,
        })
        .collect()
}

/// Where `ssh` connects: `user@address:port`, or an alias of `~/.ssh/config` (no user).
///
/// Every part is validated so that it can be handed to `ssh` as one argument: no part starts
/// with `-` (which ssh would read as an option), and none holds whitespace or a shell
/// metacharacter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshTarget {
    /// `None` for an alias of ~/.ssh/config (or a bare address: ssh's configured or local user).
    pub user: Option<String>,
    /// A hostname, an IPv4 address, an IPv6 address (without brackets), or an ssh_config alias.
    pub address: String,
    pub port: Option<u16>,
}

/// The forms `ssh = "..."` accepts, for hints.
pub const SSH_FORMS: &str = "\"user@address\", \"user@address:port\", \"user@[ipv6]\", \
     \"user@[ipv6]:port\", or an alias of ~/.ssh/config such as \"xenbox\"";

impl SshTarget {
    /// What a lab host's `ssh` holds until hvbench boots the lab machine and knows its port:
    /// `root@127.0.0.1`.
    pub fn lab_placeholder() -> SshTarget {
        SshTarget {
            user: Some("root".to_string()),
            address: "127.0.0.1".to_string(),
            port: None,
        }
    }

    /// Parse an `ssh = "..."` value. The error says which part is wrong, without the accepted
    /// forms ([`SSH_FORMS`] lists them).
    pub fn parse(s: &str) -> Result<SshTarget, String> {
        if s.is_empty() {
            return Err("it is empty".to_string());
        }
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("it contains {}", describe_char(c)));
        }
        let (user, rest) = match s.split_once('@') {
            Some((user, rest)) => {
                check_user(user)?;
                (Some(user.to_string()), rest)
            }
            None => (None, s),
        };
        let (address, port) = split_port(rest)?;
        Ok(SshTarget {
            user,
            address,
            port,
        })
    }

    /// `user@address` (IPv6 without brackets) or `address`: the destination argument of `ssh`,
    /// to pass with `-p` for [`SshTarget::port`].
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.address),
            None => self.address.clone(),
        }
    }

    /// Whether the address is an IPv6 address (written in brackets).
    pub fn is_ipv6(&self) -> bool {
        self.address.parse::<Ipv6Addr>().is_ok()
    }
}

/// As written in an experiment file: `user@address:port`, IPv6 in brackets.
impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.is_ipv6() {
            write!(f, "[{}]", self.address)?;
        } else {
            f.write_str(&self.address)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

fn describe_char(c: char) -> String {
    if c == ' ' {
        "a space".to_string()
    } else if c.is_whitespace() || c.is_control() {
        format!("the control character {c:?}")
    } else {
        format!("`{c}`")
    }
}

fn user_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
}

/// `[a-z_][a-z0-9_.-]*`, up to 32 characters.
fn check_user(user: &str) -> Result<(), String> {
    let Some(first) = user.chars().next() else {
        return Err("the user before `@` is empty".to_string());
    };
    if !(first.is_ascii_lowercase() || first == '_') {
        return Err(format!(
            "the user {user:?} must start with a lowercase letter or `_`"
        ));
    }
    if let Some(c) = user.chars().find(|c| !user_char(*c)) {
        return Err(format!(
            "the user {user:?} contains {}; a user is lowercase letters, digits, `_`, `.` and `-`",
            describe_char(c)
        ));
    }
    if user.len() > 32 {
        return Err(format!("the user {user:?} is longer than 32 characters"));
    }
    Ok(())
}

/// `address`, `address:port`, `[v6]`, `[v6]:port`.
fn split_port(rest: &str) -> Result<(String, Option<u16>), String> {
    if let Some(inner) = rest.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return Err("the `[` of an IPv6 address has no closing `]`".to_string());
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} in brackets is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(port(p)?),
                None => {
                    return Err(format!(
                        "{after:?} after the IPv6 address; only `:port` may follow it"
                    ))
                }
            },
        };
        return Ok((v6.to_string(), port));
    }
    if rest.matches(':').count() > 1 {
        return Err(if rest.parse::<Ipv6Addr>().is_ok() {
            format!("write the IPv6 address {rest} in brackets: [{rest}], or [{rest}]:port")
        } else {
            format!("{rest:?} has more than one `:`; only one port may follow the address")
        });
    }
    let (address, port) = match rest.split_once(':') {
        Some((a, p)) => (a, Some(port(p)?)),
        None => (rest, None),
    };
    check_address(address)?;
    Ok((address.to_string(), port))
}

fn port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("the port after `:` is empty".to_string());
    }
    if !p.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("the port {p:?} is not a number from 1 to 65535"));
    }
    match p.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("the port {p} is not from 1 to 65535")),
    }
}

fn address_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// A hostname or ssh_config alias (`[A-Za-z0-9._-]+`, not starting with `-` or `.`, no empty
/// label), or an IPv4 address.
fn check_address(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("the address is empty".to_string());
    }
    if a.starts_with('-') {
        return Err(format!(
            "the address {a:?} starts with `-`, which ssh would read as an option"
        ));
    }
    if let Some(c) = a.chars().find(|c| !address_char(*c)) {
        return Err(format!(
            "the address {a:?} contains {}; a hostname is letters, digits, `.`, `-` and `_`",
            describe_char(c)
        ));
    }
    if a.starts_with('.') || a.contains("..") {
        return Err(format!("the address {a:?} has an empty part between dots"));
    }
    if a.len() > 253 {
        return Err("the address is longer than 253 characters".to_string());
    }
    if a.chars().all(|c| c.is_ascii_digit() || c == '.') && a.parse::<Ipv4Addr>().is_err() {
        return Err(format!("{a:?} is not an IPv4 address"));
    }
    Ok(())
}

/// A `cache_dir` value: absolute or `~/...`, only characters that need no quoting in a shell,
/// no `..`, and not `/` or the home directory itself. The error says what is wrong.
pub(crate) fn check_cache_dir(dir: &str) -> Result<(), String> {
    let rest = if let Some(rest) = dir.strip_prefix("~/") {
        rest
    } else if let Some(rest) = dir.strip_prefix('/') {
        rest
    } else {
        return Err(format!(
            "`cache_dir` must be an absolute path or start with `~/`, got {dir:?}"
        ));
    };
    if let Some(c) = rest.chars().find(|c| !cache_char(*c)) {
        return Err(format!(
            "`cache_dir` contains {}, which a remote shell would read specially",
            describe_char(c)
        ));
    }
    if rest.split('/').any(|part| part == "..") {
        return Err("`cache_dir` contains `..`".to_string());
    }
    if rest.split('/').all(|part| part.is_empty() || part == ".") {
        return Err(format!(
            "`cache_dir` {dir:?} is the whole {}",
            if dir.starts_with('~') {
                "home directory"
            } else {
                "root file system"
            }
        ));
    }
    Ok(())
}

fn cache_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ',' | ':' | '=' | '@')
}

/// A local path handed to ssh (`-i`, `UserKnownHostsFile`): ssh expands `%` tokens in both
/// and splits the latter at whitespace, so those, quotes, backslashes and control characters
/// are refused. `None`: fine; else the offending character, described.
pub(crate) fn ssh_path_problem(path: &str) -> Option<String> {
    path.chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '%' | '"' | '\'' | '\\'))
        .map(describe_char)
}
