//! segment-selector's job: feeds the pure `selection` crate from the stream folder and the
//! archive, and carries out its plan.
#![forbid(unsafe_code)]

pub mod alignments;
pub mod clock;
pub mod compare;
#[cfg(test)]
mod crash_tests;
pub mod days;
pub mod error;
pub mod execute;
pub mod export;
pub mod metrics;
pub mod outcome;
pub mod publish;
pub mod query;
pub mod report;
pub mod run;
pub mod scan;
pub mod settings;
pub mod share;
#[cfg(test)]
mod swap_tests;
#[cfg(test)]
mod testkit;
