//! Code the integration tests share, one module per concern (`tests/README.md`). Every test
//! file takes it with `mod support;` and uses what it needs; nothing is copied between them.
#![allow(dead_code)]

pub mod archived;
pub mod azurite;
pub mod browser;
pub mod common;
pub mod entra;
pub mod faultproxy;
pub mod fixture;
pub mod held;
pub mod probe;
pub mod spans;
pub mod timecode;
