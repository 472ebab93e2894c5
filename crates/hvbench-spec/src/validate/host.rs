//! The `[[host]]` tables (machines reached over SSH) and the platforms' `host = "NAME"`: names,
//! ssh addresses, the paths handed to ssh, the remote cache directory, and the checks across
//! hosts and platforms (unique names, every platform's host declared). A host's boot entries
//! and the platforms' `boot` are in `boot.rs`.

use super::platform::{platform_name_char, PlatformSeen};
use super::{did_you_mean, sanitize, Validator};
use crate::diag::Span;
use crate::host::{check_cache_dir, ssh_path_problem};
use crate::tree::{Entry, Table};
use crate::{lab_boots, BootEntry, HostSpec, SshTarget, SSH_FORMS};
use std::collections::HashMap;
use std::path::PathBuf;

const HOST_KEYS: &[&str] = &[
    "name",
    "ssh",
    "identity_file",
    "known_hosts",
    "cache_dir",
    "lab",
    "boot",
];
/// The keys a lab host (`lab = true`) leaves to hvbench, which fills them in when it boots the
/// lab machine.
const LAB_FILLED: &[&str] = &["ssh", "identity_file", "known_hosts", "cache_dir"];
/// The name no `[[host]]` may take: it stands for this machine.
const LOCAL: &str = "local";

/// A `[[host]]` as far as it could be read, for the checks across hosts and platforms.
/// How a host is reached; each field `None` after reporting a bad value.
struct Connection {
    ssh: Option<SshTarget>,
    identity_file: Option<Option<PathBuf>>,
    known_hosts: Option<Option<PathBuf>>,
    cache_dir: Option<Option<String>>,
}

pub(super) struct HostSeen {
    /// A valid name, with the span of its value.
    name: Option<(String, Span)>,
    /// The name as written, valid or not: a platform naming it is not reported again.
    raw_name: Option<String>,
    /// Its boot entries, defaults filled in; `None` when they could not be read (reported).
    pub(super) boots: Option<Vec<BootEntry>>,
    pub(super) spec: Option<HostSpec>,
}

impl HostSeen {
    /// The host's name as written, valid or not.
    pub(super) fn raw_name(&self) -> Option<&str> {
        self.raw_name.as_deref()
    }
}

impl Validator<'_> {
    pub(super) fn host_table(&mut self, t: &Table, span: &Span) -> HostSeen {
        let mut seen = HostSeen {
            name: None,
            raw_name: None,
            boots: None,
            spec: None,
        };
        self.host_keys(t);
        seen.name = self.host_name(t, span, &mut seen.raw_name);
        let lab = self.flag(
            t,
            "lab",
            "lab = true: this host is hvbench's emulated dual-boot lab machine, which hvbench \
             boots and reaches by itself",
        );
        let conn = if lab == Some(true) {
            self.lab_connection(t)
        } else {
            let name = seen.name.as_ref().map(|(n, _)| n.as_str());
            self.ssh_connection(t, span, lab.is_none(), name)
        };
        seen.boots = self.boot_entries(t, seen.name.as_ref().map(|(n, _)| n.as_str()));
        if lab == Some(true) && seen.boots.as_ref().is_some_and(Vec::is_empty) {
            seen.boots = Some(lab_boots());
        }

        if let (
            Some((name, _)),
            Some(ssh),
            Some(identity_file),
            Some(known_hosts),
            Some(cache_dir),
            Some(lab),
            Some(boots),
        ) = (
            &seen.name,
            conn.ssh,
            conn.identity_file,
            conn.known_hosts,
            conn.cache_dir,
            lab,
            seen.boots.clone(),
        ) {
            seen.spec = Some(HostSpec {
                name: name.clone(),
                ssh,
                identity_file,
                known_hosts,
                cache_dir,
                lab,
                boots,
            });
        }
        seen
    }

    /// Unknown keys of a [[host]], and the ones that belong in `ssh`.
    fn host_keys(&mut self, t: &Table) {
        for e in &t.entries {
            match e.key.as_str() {
                key if HOST_KEYS.contains(&key) => {}
                key @ ("user" | "port" | "address" | "addr" | "hostname" | "host" | "ip") => {
                    self.sink.error(
                        &e.key_span,
                        format!("unknown key `{key}` in [[host]]"),
                        "write the user, address and port in `ssh`, e.g. ssh = \
                         \"root@192.0.2.10:2222\"",
                    )
                }
                _ => self.unknown_key(e, HOST_KEYS, "[[host]]"),
            }
        }
    }

    /// The host's `name`: `None` (reported) when it is missing, not a valid name or reserved;
    /// `raw_name` is set to the name as written.
    fn host_name(
        &mut self,
        t: &Table,
        span: &Span,
        raw_name: &mut Option<String>,
    ) -> Option<(String, Span)> {
        let mut name = None;
        match t.get("name") {
            None => self.sink.error(
                span,
                "this [[host]] has no `name`",
                "add a unique name, e.g. name = \"xenbox\" (lowercase letters, digits and `-`); \
                 platforms name it in host = \"xenbox\"",
            ),
            Some(e) => {
                if let Some((s, vspan)) = self.string(e, "xenbox") {
                    *raw_name = Some(s.to_string());
                    if s.is_empty() || s.chars().count() > 64 || !s.chars().all(platform_name_char)
                    {
                        self.sink.error(
                            vspan,
                            format!(
                                "a host `name` must be 1 to 64 lowercase letters, digits or `-`, \
                                 got {s:?}"
                            ),
                            format!(
                                "try name = \"{}\"",
                                sanitize(s, platform_name_char, true, 64)
                            ),
                        );
                    } else if s == LOCAL {
                        self.sink.error(
                            vspan,
                            "the host name `local` is reserved: it stands for this machine",
                            "give the host another name, e.g. its hostname; platforms without \
                             `host` run on this machine",
                        );
                    } else {
                        name = Some((s.to_string(), vspan.clone()));
                    }
                }
            }
        }
        name
    }

    /// The emulated lab machine's connection, which hvbench fills in when it boots it: any of
    /// its keys written is reported.
    fn lab_connection(&mut self, t: &Table) -> Connection {
        let mut ok = true;
        for key in LAB_FILLED {
            if let Some(e) = t.get(key) {
                self.sink.error(
                    &e.key_span,
                    format!("`{key}` cannot go with lab = true"),
                    format!(
                        "hvbench fills in `{key}` of the emulated lab machine when it boots \
                         it: remove `{key}`, or remove lab = true to reach a real machine"
                    ),
                );
                ok = false;
            }
        }
        Connection {
            ssh: ok.then(SshTarget::lab_placeholder),
            identity_file: ok.then_some(None),
            known_hosts: ok.then_some(None),
            cache_dir: ok.then_some(None),
        }
    }

    /// A real machine's connection: `ssh` (required, unless `lab_unknown`: `lab` had the wrong
    /// type, reported) and its files.
    fn ssh_connection(
        &mut self,
        t: &Table,
        span: &Span,
        lab_unknown: bool,
        name: Option<&str>,
    ) -> Connection {
        let ssh = match t.get("ssh") {
            // `lab` has the wrong type (reported): whether `ssh` is missing is unknown.
            None if lab_unknown => None,
            None => {
                self.sink.error(
                    span,
                    match name {
                        Some(n) => format!("host `{n}` has no `ssh` address"),
                        None => "this [[host]] has no `ssh` address".to_string(),
                    },
                    format!(
                        "add ssh = \"root@192.0.2.10\"; accepted forms: {SSH_FORMS}; or \
                         lab = true for hvbench's emulated dual-boot lab machine"
                    ),
                );
                None
            }
            Some(e) => self.ssh(e),
        };
        Connection {
            ssh,
            identity_file: self.ssh_path(t, "identity_file", "keys/id_ed25519"),
            known_hosts: self.ssh_path(t, "known_hosts", "keys/known_hosts"),
            cache_dir: self.cache_dir(t),
        }
    }

    /// `ssh = "user@address:port"`; `None` after reporting a problem.
    fn ssh(&mut self, e: &Entry) -> Option<SshTarget> {
        let (s, span) = self.string(e, "root@192.0.2.10")?;
        match SshTarget::parse(s) {
            Ok(target) => Some(target),
            Err(why) => {
                self.sink.error(
                    span,
                    format!("`ssh` is a malformed ssh address: {why}"),
                    format!("write one of {SSH_FORMS}"),
                );
                None
            }
        }
    }

    /// `identity_file` or `known_hosts`: a local path for ssh. With a base directory (`load`),
    /// made absolute: relative to the spec file, `~/` in the user's home. `Some(None)` when
    /// absent, `None` after reporting a problem.
    fn ssh_path(&mut self, t: &Table, key: &str, example: &str) -> Option<Option<PathBuf>> {
        let Some(e) = t.get(key) else {
            return Some(None);
        };
        let (p, span) = self.string(e, example)?;
        let what = if key == "identity_file" {
            "the private key ssh logs in with (ssh -i)"
        } else {
            "the known-hosts file that holds the host's key"
        };
        if p.is_empty() {
            self.sink.error(
                span,
                format!("`{key}` is empty"),
                format!("give the path of {what}, or remove `{key}`"),
            );
            return None;
        }
        if p.starts_with('~') && !p.starts_with("~/") {
            self.sink.error(
                span,
                format!("`{key}` starts with `~` but not `~/`, got {p:?}"),
                "write ~/ for your home directory, an absolute path, or a path relative to the \
                 experiment file",
            );
            return None;
        }
        let path = self.resolve(p);
        let shown = path.to_string_lossy();
        if let Some(c) = ssh_path_problem(&shown) {
            self.sink.error(
                span,
                format!("`{key}` `{shown}` contains {c}, which ssh would not take literally"),
                format!(
                    "ssh expands `%` in it and splits it at spaces: move {what} to a path of \
                     letters, digits, `/`, `.`, `_` and `-`"
                ),
            );
            return None;
        }
        Some(Some(path))
    }

    /// A path as `load` hands it to ssh; as written for `parse`.
    fn resolve(&self, p: &str) -> PathBuf {
        let Some(base) = self.base else {
            return PathBuf::from(p);
        };
        let path = match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            // No home to expand `~` with: ssh expands it.
            (Some(_), None) => return PathBuf::from(p),
            // `join` keeps an absolute path as it is.
            (None, _) => base.join(p),
        };
        std::path::absolute(&path).unwrap_or(path)
    }

    /// `cache_dir = "/var/cache/hvbench"`. `Some(None)` when absent, `None` after reporting.
    fn cache_dir(&mut self, t: &Table) -> Option<Option<String>> {
        let Some(e) = t.get("cache_dir") else {
            return Some(None);
        };
        let (dir, span) = self.string(e, "/var/cache/hvbench")?;
        match check_cache_dir(dir) {
            Ok(()) => Some(Some(dir.to_string())),
            Err(why) => {
                self.sink.error(
                    span,
                    why,
                    "the cache on the remote machine, e.g. cache_dir = \"/var/cache/hvbench\" \
                     or \"~/.cache/hvbench\" (the default): absolute or under ~/, letters, \
                     digits and `/._-+,:=@` only",
                );
                None
            }
        }
    }

    /// Unique host names.
    pub(super) fn check_hosts(&mut self, hosts: &[HostSeen]) {
        let mut first: HashMap<&str, &Span> = HashMap::new();
        for h in hosts {
            let Some((name, span)) = &h.name else {
                continue;
            };
            if let Some(before) = first.get(name.as_str()) {
                let line = self.sink.line_of(before);
                self.sink.error(
                    span,
                    format!("duplicate host name `{name}`"),
                    format!(
                        "`{name}` is already the name of the host at line {line}; give each \
                         host a unique name (two names may reach the same machine)"
                    ),
                );
            } else {
                first.insert(name, span);
            }
        }
    }

    /// Every platform's `host` names a `[[host]]`.
    pub(super) fn check_platform_hosts(&mut self, platforms: &[PlatformSeen], hosts: &[HostSeen]) {
        let mut names: Vec<&str> = Vec::new();
        for (n, _) in hosts.iter().filter_map(|h| h.name.as_ref()) {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        for p in platforms {
            let Some((host, span)) = &p.host else {
                continue;
            };
            if names.contains(&host.as_str()) {
                continue;
            }
            // A [[host]] with this name was there but is wrong: reported already.
            if hosts.iter().any(|h| h.raw_name.as_deref() == Some(host)) {
                continue;
            }
            let hint = if host == LOCAL {
                "leave `host` out: a platform without it runs on this machine".to_string()
            } else if names.is_empty() {
                format!(
                    "declare the machine in a [[host]] table with name = \"{}\" and ssh = \
                     \"root@192.0.2.10\", or leave `host` out to run on this machine",
                    sanitize(host, platform_name_char, true, 64)
                )
            } else {
                format!(
                    "{}the hosts are: {}; leave `host` out to run on this machine",
                    did_you_mean(host, &names),
                    names.join(", ")
                )
            };
            self.sink
                .error(span, format!("unknown host `{host}`"), hint);
        }
    }
}
