//! cruddur-xray: what the X-Ray daemon and console give a deployed stack, on a laptop.
//!
//! - [`listen`]: a daemon stand-in (UDP, the daemon's framing) that validates documents, keeps
//!   them in a JSON-lines file, prints each trace as a tree and can forward to X-Ray;
//! - [`otlp`]: X-Ray's OTLP endpoint (`listen --otlp`): SigV4-checked OTLP/HTTP spans turned
//!   into the segment documents X-Ray would draw;
//! - [`trace`] and [`tree`]: documents stitched into traces, printed as trees;
//! - [`map`] and [`map_render`]: the service map, as text, DOT or an HTML page;
//! - [`filter`]: X-Ray's filter expressions, for listing traces;
//! - [`aws`] and [`source`]: the same views from a deployed stack through aws-sdk-xray.

pub mod aws;
pub mod document;
pub mod filter;
pub mod listen;
pub mod map;
pub mod map_render;
pub mod otlp;
pub mod source;
pub mod trace;
pub mod tree;
