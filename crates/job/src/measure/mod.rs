//! Counting MP3 frames: see the measure helper brief.
