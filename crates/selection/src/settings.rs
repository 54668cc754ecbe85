//! What the planner needs to know about the deployment, validated once.

use std::fmt;
use std::time::Duration;

use chrono::format::{Item, StrftimeItems};
use chrono_tz::Tz;

/// How the recorders name and cut their files, and how the archive names blobs.
///
/// Build it with [`Settings::new`], which checks the formats, then adjust the public
/// fields that have safe defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// ffmpeg's `-segment_time` (the original job's `FILE_DURATION`).
    pub segment_time: Duration,
    /// The strftime pattern after the last `_` of a file name (`%Y%m%dT%H%M%S` by default).
    pub(crate) name_format: String,
    /// The recorders' time zone; names carry no offset.
    pub time_zone: Tz,
    /// How long a pod's newest file must stay unchanged before it counts as finished. Must
    /// outlast ffmpeg's 256 KiB write interval at the stream's bitrate plus Azure Files'
    /// attribute cache (`actimeo=30`).
    pub finish_grace: Duration,
    /// How old the folder's view of a file may be: the share's attribute cache (Azure Files
    /// mounts use `actimeo=30`; the server's listing of a file another client still holds
    /// open may lag too). A newer file of a pod finishes the older one only once the newer
    /// one has existed this long by the share's clock, and a file counts as idle only after
    /// this plus ffmpeg's write interval at the stream's bitrate. 0 (a local disk, where the
    /// view is never stale) finishes a file as soon as a newer one of its pod appears.
    pub share_cache: Duration,
    /// How far two estimates of the same instant may differ and still count as the same.
    /// Names are creation times rounded down, within ±0.74 s of the audio they start.
    pub name_jitter: Duration,
    /// Stream name, for `{stream}` in the blob template.
    pub stream: String,
    pub(crate) blob_template: String,
}

/// A setting that cannot work, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

/// The original job's blob layout: `DD-MM-YYYY/<file name>`, the date taken from the name.
pub const DEFAULT_BLOB_TEMPLATE: &str = "%d-%m-%Y/{file}";
/// The article's `file.format`.
pub const DEFAULT_NAME_FORMAT: &str = "%Y%m%dT%H%M%S";

impl Settings {
    /// Settings with the article's defaults for everything but the segment time.
    ///
    /// ```
    /// let s = selection::Settings::new(600, "hope").unwrap();
    /// assert_eq!(s.segment_time.as_secs(), 600);
    /// assert!(selection::Settings::new(0, "hope").is_err());
    /// ```
    pub fn new(segment_seconds: u64, stream: &str) -> Result<Self, SettingsError> {
        if segment_seconds == 0 {
            return Err(SettingsError(
                "FILE_DURATION is 0; expected the recorders' -segment_time in seconds (e.g. 600)"
                    .into(),
            ));
        }
        Ok(Settings {
            segment_time: Duration::from_secs(segment_seconds),
            name_format: DEFAULT_NAME_FORMAT.into(),
            time_zone: Tz::UTC,
            finish_grace: Duration::from_secs(120),
            share_cache: Duration::from_secs(30),
            name_jitter: Duration::from_millis(750),
            stream: stream.into(),
            blob_template: DEFAULT_BLOB_TEMPLATE.into(),
        })
    }

    /// Replace the name format after checking it is a strftime pattern that names a full
    /// date and time to the second.
    pub fn with_name_format(mut self, format: &str) -> Result<Self, SettingsError> {
        check_strftime(format, "name format")?;
        let has = |spec: &[&str]| spec.iter().any(|s| format.contains(s));
        let complete = (has(&["%Y", "%F", "%G"]) || has(&["%y"]))
            && (has(&["%m", "%b", "%F"]) || has(&["%j"]))
            && (has(&["%d", "%F", "%e"]) || has(&["%j"]))
            && (has(&["%H", "%T", "%R"]) && has(&["%M", "%T", "%R"]) && has(&["%S", "%T"])
                || has(&["%s"]));
        if !complete || format.contains('/') {
            return Err(SettingsError(format!(
                "name format {format:?} must give year, month, day, hour, minute and second \
                 without '/', like %Y%m%dT%H%M%S"
            )));
        }
        self.name_format = format.into();
        Ok(self)
    }

    /// Replace the blob template: strftime fields (taken from the file name's date) plus
    /// `{file}`, `{pod}` and `{stream}`.
    ///
    /// ```
    /// let s = selection::Settings::new(600, "hope").unwrap()
    ///     .with_blob_template("{stream}/%Y/%m/%d/{file}").unwrap();
    /// assert!(s.clone().with_blob_template("%d-%m-%Y/").is_err());
    /// ```
    pub fn with_blob_template(mut self, template: &str) -> Result<Self, SettingsError> {
        check_strftime(template, "blob template")?;
        if !template.contains("{file}") {
            return Err(SettingsError(format!(
                "blob template {template:?} must contain {{file}} so every segment gets its own blob"
            )));
        }
        if template.starts_with('/') || template.split('/').any(|p| p == ".." || p == ".") {
            return Err(SettingsError(format!(
                "blob template {template:?} must be a relative path without '.' or '..' parts"
            )));
        }
        self.blob_template = template.into();
        Ok(self)
    }

    /// The strftime pattern of names.
    pub fn name_format(&self) -> &str {
        &self.name_format
    }

    /// The blob name template.
    pub fn blob_template(&self) -> &str {
        &self.blob_template
    }
}

fn check_strftime(format: &str, what: &str) -> Result<(), SettingsError> {
    if format.is_empty() || format.chars().any(char::is_control) {
        return Err(SettingsError(format!(
            "{what} {format:?} is empty or has control characters; expected a strftime pattern"
        )));
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(SettingsError(format!(
            "{what} {format:?} is not a valid strftime pattern (see chrono::format::strftime)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_format_must_be_complete_and_valid() {
        let s = Settings::new(10, "x").unwrap();
        assert!(s.clone().with_name_format("%Y%m%dT%H%M%S").is_ok());
        assert!(s.clone().with_name_format("%Y-%m-%d_%H-%M-%S").is_ok());
        assert!(s.clone().with_name_format("%Y%m%d").is_err());
        assert!(s.clone().with_name_format("%Q").is_err());
        assert!(s.clone().with_name_format("%Y/%m%dT%H%M%S").is_err());
    }

    #[test]
    fn blob_template_is_checked() {
        let s = Settings::new(10, "x").unwrap();
        assert!(s.clone().with_blob_template("../{file}").is_err());
        assert!(s.clone().with_blob_template("/{file}").is_err());
        assert!(s.clone().with_blob_template("%Q/{file}").is_err());
        assert!(s.with_blob_template("{pod}/{file}").is_ok());
    }
}
