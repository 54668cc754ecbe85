//! Parsing Azure Storage connection strings without leaking their secrets.
