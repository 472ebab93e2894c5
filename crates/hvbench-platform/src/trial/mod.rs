//! What one trial sets up and tears down around a guest or process: the console reader that
//! decodes frames under a deadline ([`console`]), Ctrl-C and friends ([`interrupt`]), the
//! trial's network namespace ([`vnet`]) and the network workloads' far end ([`peer`]).

pub mod console;
pub mod interrupt;
pub mod peer;
pub mod vnet;
