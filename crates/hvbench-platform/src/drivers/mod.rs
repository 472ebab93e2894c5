//! The drivers: how the agent runs on one machine — a plain process ([`host`]), PID 1 of a
//! QEMU guest ([`qemu`], with [`kvm`] telling whether KVM really works here), or PID 1 of a Xen
//! domain ([`xen`]). Where that machine is (this one, over SSH, a dual-boot machine, the lab)
//! is `crate::remote` and `crate::lab`; `crate::builder` picks both for a platform.

pub mod host;
pub mod kvm;
pub mod libvirt;
pub mod qemu;
pub mod xen;
