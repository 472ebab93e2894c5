//! The `xen` driver: the agent as PID 1 of a Xen domain, created with `xl` from a generated
//! config, on a machine whose dom0 this process runs in (a real Xen host, or the lab's).
//!
//! The guest's console is read through `xl create -c` (xl attaches its console client before
//! the domain runs, so nothing is lost); the domain is destroyed after every trial, whatever
//! happened, so a hung guest cannot outlive its timeout.
//!
//! `xlcfg` writes the domain's config, `toolstack` asks `xl` about the host and applies an
//! isolation instance's placement, and `platform` runs the trials ([`XenPlatform`]) with the
//! scratch disk, peer and network namespace that every guest trial gets
//! ([`crate::trial::guest`]).

mod platform;
pub(crate) mod toolstack;
pub(crate) mod xlcfg;

pub(crate) use platform::write_script;
pub use platform::{spec_facts, XenPlatform};
pub use toolstack::{host_cpus, parse_xl_info, xen_weight};
pub use xlcfg::{
    guest_extra, quote, tools_disk_hook, tools_vdev, xl_config, ToolsDisk, UnsafeValue, XlConfig,
};
