//! What one trial sets up and tears down around a guest or process: the console reader that
//! decodes frames under a deadline ([`console`]), Ctrl-C and friends ([`interrupt`]), the
//! trial's network namespace ([`vnet`]), the network workloads' far end ([`peer`]), the disk
//! workloads' scratch disks ([`scratch`]), a tools image mounted for one host process
//! ([`loopmount`]), and for a guest of any driver all of these together with its placement and
//! evidence collectors ([`guest`]).

pub mod console;
pub mod guest;
pub mod interrupt;
pub mod loopmount;
pub mod peer;
pub mod scratch;
pub mod vnet;
