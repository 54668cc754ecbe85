//! The day picture's geometry (pixels) and colours, and the one conversion its drawing code
//! shares: the page ([`super::svg`]) and each of its timelines ([`super::timeline`]) draw
//! with them, so neither reaches into the other.

use chrono::TimeDelta;

pub(super) const WIDTH: f64 = 1200.0;
pub(super) const LEFT: f64 = 190.0;
pub(super) const RIGHT: f64 = 24.0;
pub(super) const LANE: f64 = 44.0;
pub(super) const AXIS: f64 = 26.0;
pub(super) const GAP_LABELS: f64 = 18.0;
/// The band under the lanes: how many replicas held each moment.
pub(super) const BAND: f64 = 24.0;

pub(super) const RECORDED: &str = "#b8cce4";
pub(super) const ARCHIVED: &str = "#1f5fa8";
pub(super) const GAP: &str = "#d62728";
pub(super) const SILENCE: &str = "#7b3fc4";
pub(super) const HELD: &str = "#e08a00";
pub(super) const JOIN: &str = "#111111";
/// A recording deleted as a duplicate (its gone row).
pub(super) const GONE: &str = "#8c8c8c";
/// The band's colours: one replica held the moment (redundancy lost), two, three or more.
pub(super) const HELD_BY: [&str; 3] = ["#f6c85f", "#9bd18f", "#3a9d48"];

/// Seconds of a manifest as a duration (to the microsecond).
pub(super) fn secs(s: f64) -> TimeDelta {
    TimeDelta::microseconds((s * 1e6).round() as i64)
}
