//! Packages and their repositories: `.deb` and `.rpm` reading, apt and
//! rpm-md metadata, signature checks, dependency resolution, and the
//! installed-package databases (dpkg status, rpmdb).
//!
//! Not built yet: this crate is the home of the packages issue.
