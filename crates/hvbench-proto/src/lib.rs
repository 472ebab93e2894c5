//! The host <-> agent wire format of hvbench.
//!
//! The agent (a plain process on the host, or PID 1 inside a guest) writes *frames* on its
//! console. A frame is one line:
//!
//! ```text
//! HVB/<version> <length> <crc32, 8 hex digits> <JSON object of <length> bytes>\n
//! ```
//!
//! Frames may be interleaved with arbitrary other output (kernel messages, firmware noise,
//! a console flooded with garbage). [`Decoder`] finds every intact frame in such a stream and
//! reports corrupt, truncated or unknown-version frames as such, never trusting them.
//!
//! The crate also holds what both sides must agree on: the [`Message`]s, the [`AgentPlan`] a
//! host hands to an agent, the [`catalog`] of workloads, the keys of platform [`facts`], and the [`names`] of scenarios and
//! instances that the store, the runner and the analysis share.

pub mod catalog;
mod crc32;
pub mod facts;
mod frame;
mod message;
pub mod names;

pub use catalog::{Better, Device, WorkloadClass, WorkloadDef};
pub use crc32::crc32;
pub use frame::{encode, Decoder, Event, FrameError, MAX_FRAME_BYTES, PREFIX, VERSION};
pub use message::{
    AgentPlan, InstanceEvent, Message, StressPlan, WindowEdge, WorkloadRequest, COMPILE_SOURCE,
    GUEST_TOOLS_ROOT, PEER_BRIDGE, PEER_READY, PLAN_VERSION, TOOLS_LABEL,
};
