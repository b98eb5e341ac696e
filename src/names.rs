//! Validated names: task names, result names and `sub_dir` paths.
//!
//! Invariant: this is the only place names are checked. Every store method takes the
//! validated newtypes ([`TaskName`], [`ResultName`], [`SubDir`]), so no backend can forget a
//! check, and a value of these types is always safe to use as a file or directory name under
//! a store's root: non-empty, at most [`MAX_NAME_LEN`] bytes, no NUL, no `/` or `\`, not `.`
//! or `..`; a `SubDir` is a relative path of such components joined by `/`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::name_problem::{NameKind, NameProblem};

/// Longest task or result name, in bytes (the usual file-name limit).
pub const MAX_NAME_LEN: usize = 255;
/// Longest `sub_dir`, in bytes.
pub const MAX_SUB_DIR_LEN: usize = 1024;

fn invalid(kind: NameKind, name: &str, problem: NameProblem) -> Error {
    Error::InvalidName {
        kind,
        name: name.to_owned(),
        problem,
    }
}

/// Checks one name component (a task name, a result name or one `sub_dir` component).
fn check_component(kind: NameKind, whole: &str, part: &str) -> Result<()> {
    if part.is_empty() {
        return Err(invalid(kind, whole, NameProblem::Empty));
    }
    if part.len() > MAX_NAME_LEN {
        let problem = NameProblem::TooLong {
            len: part.len(),
            max: MAX_NAME_LEN,
        };
        return Err(invalid(kind, whole, problem));
    }
    if part.contains('\0') {
        return Err(invalid(kind, whole, NameProblem::ContainsNul));
    }
    if let Some(sep) = part.chars().find(|c| matches!(c, '/' | '\\')) {
        return Err(invalid(kind, whole, NameProblem::ContainsSeparator(sep)));
    }
    if part == "." || part == ".." {
        return Err(invalid(kind, whole, NameProblem::DotName));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name`.
            ///
            /// # Errors
            /// [`Error::InvalidName`] if it is empty, longer than [`MAX_NAME_LEN`] bytes,
            /// contains NUL, `/` or `\`, or is `.` or `..`.
            pub fn new(name: &str) -> Result<Self> {
                check_component($kind, name, name)?;
                Ok($ty(name.to_owned()))
            }

            /// The name as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = Error;
            fn try_from(name: &str) -> Result<Self> {
                $ty::new(name)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                $ty::new(&name).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A validated task name, e.g. `train`.
    TaskName,
    NameKind::Task
);
name_type!(
    /// A validated result name, e.g. `metrics`.
    ResultName,
    NameKind::Result
);
name_type!(
    /// A validated run name: the prefix of a run directory named `<run name>-<counter>` in a
    /// [`LocalFileStore`](crate::LocalFileStore), as fluidml names them.
    RunName,
    NameKind::Run
);

/// A validated `sub_dir`: a relative path inside a run, normalized to components joined by
/// `/` (empty and `.` components are dropped).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SubDir(String);

impl SubDir {
    /// Validates and normalizes `path`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] if it is absolute, contains `..`, NUL or `\`, has a component
    /// longer than [`MAX_NAME_LEN`], is longer than [`MAX_SUB_DIR_LEN`] bytes, or is empty
    /// after normalization.
    pub fn new(path: &str) -> Result<Self> {
        let kind = NameKind::SubDir;
        if path.len() > MAX_SUB_DIR_LEN {
            let problem = NameProblem::TooLong {
                len: path.len(),
                max: MAX_SUB_DIR_LEN,
            };
            return Err(invalid(kind, path, problem));
        }
        if path.starts_with('/') || path.starts_with('\\') || has_drive_prefix(path) {
            return Err(invalid(kind, path, NameProblem::Absolute));
        }
        let mut parts = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => continue,
                ".." => return Err(invalid(kind, path, NameProblem::ParentDir)),
                _ => check_component(kind, path, part)?,
            }
            parts.push(part);
        }
        if parts.is_empty() {
            return Err(invalid(kind, path, NameProblem::Empty));
        }
        Ok(SubDir(parts.join("/")))
    }

    /// The normalized path, components joined by `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components of the path.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// `C:` and the like: absolute (or drive-relative) on Windows, so never allowed.
fn has_drive_prefix(path: &str) -> bool {
    let b = path.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

impl fmt::Display for SubDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SubDir {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = String::deserialize(d)?;
        SubDir::new(&path).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_of(r: Result<impl fmt::Debug>) -> NameProblem {
        match r {
            Err(Error::InvalidName { problem, .. }) => problem,
            other => panic!("expected InvalidName, got {other:?}"),
        }
    }

    #[test]
    fn each_bad_name_gets_its_own_problem() {
        assert_eq!(problem_of(TaskName::new("")), NameProblem::Empty);
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            problem_of(ResultName::new(&long)),
            NameProblem::TooLong {
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN
            }
        );
        assert_eq!(problem_of(TaskName::new("a\0b")), NameProblem::ContainsNul);
        assert_eq!(
            problem_of(TaskName::new("a/b")),
            NameProblem::ContainsSeparator('/')
        );
        assert_eq!(
            problem_of(ResultName::new("a\\b")),
            NameProblem::ContainsSeparator('\\')
        );
        assert_eq!(problem_of(ResultName::new("..")), NameProblem::DotName);
        assert_eq!(problem_of(SubDir::new("a/../b")), NameProblem::ParentDir);
        assert_eq!(problem_of(SubDir::new("/etc")), NameProblem::Absolute);
        assert_eq!(problem_of(SubDir::new("C:x")), NameProblem::Absolute);
        assert_eq!(problem_of(SubDir::new("./")), NameProblem::Empty);
    }

    #[test]
    fn good_names_are_kept_and_sub_dirs_normalized() -> Result<()> {
        assert_eq!(TaskName::new("train-1.v2")?.as_str(), "train-1.v2");
        assert_eq!(
            ResultName::new(&"n".repeat(MAX_NAME_LEN))?.as_str().len(),
            255
        );
        assert_eq!(SubDir::new("./a//b/")?.as_str(), "a/b");
        assert_eq!(SubDir::new("a/b")?.components().count(), 2);
        Ok(())
    }

    #[test]
    fn deserializing_a_bad_name_fails() {
        assert!(serde_json::from_str::<TaskName>("\"../x\"").is_err());
        assert!(serde_json::from_str::<SubDir>("\"../x\"").is_err());
    }
}
