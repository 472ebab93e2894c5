//! The guest image: the embedded static agent, Debian packages fetched as files ([`apt`]), the
//! guest kernel and its modules, the initramfs built around the agent, the benchmark tools as a
//! tree of Debian files and a disk image ([`tools`]), and the cache that keeps all of them by
//! version or content hash.

pub mod agent;
pub mod apt;
pub mod cache;
pub mod image;
pub mod kernel;
pub mod modules;
pub mod plan_tools;
pub mod tools;
