//! End-to-end tests: the real `hookgate` binary, real HTTP on loopback, policies built from
//! their sources by the real guest toolchain.

#![allow(unreachable_pub, missing_docs)]

mod capabilities;
mod cli;
mod cluster;
mod common;
mod containment_files;
mod edges;
mod events;
mod fallbacks;
mod guests;
mod hook_auth;
mod hooks;
mod limits;
mod malformed;
mod operate;
mod prometheus;
mod reload;
mod reload_command;
mod templates;
mod tenants;
mod traces;
