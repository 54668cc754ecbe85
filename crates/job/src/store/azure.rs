//! Azure implementation of [`super::Archive`].
