//! Contracts of sbx: the types the API, the store and the runners speak to each other, and
//! nothing that does I/O (no PostgreSQL, wasmtime, Docker or actix here). The rules that
//! resolve and check requests live beside this crate, in `sbx-limits`, whose resolved limits
//! ([`sbx_limits::ExecLimits`]) the [`Backend`] trait takes.
//!
//! # Layout
//! - [`ids`]: typed ids (UUIDv7 newtypes), one per kind of object.
//! - [`exec`]: what an exec, a code-interpreter cell and a container command are made of and
//!   what comes of them (spec, status, outcome).
//! - [`sandbox`]: the sandbox vocabulary: state, kind, and the reason of each state change.
//! - [`notes`]: the notifications sent over PostgreSQL's LISTEN/NOTIFY, with one encoding and
//!   one parser each.
//! - [`backend`]: the [`Backend`] trait a runner's way of running code implements, how a run is
//!   steered ([`Control`]) and the output it streams ([`LogChunk`]).
//! - [`process`]: background processes in a container sandbox: spec, what is known of one,
//!   signals, output events, errors.
//! - [`template`]: where a template's build is.
//! - [`session`]: the [`SessionHost`] trait where code-interpreter sessions live, and its
//!   errors.
//!
//! With the `openapi` feature, the types the HTTP API shows derive `utoipa::ToSchema`.

pub mod backend;
pub mod exec;
pub mod ids;
pub mod notes;
pub mod process;
pub mod sandbox;
pub mod session;
pub mod template;

pub use backend::{
    Backend, BackendError, BackendKind, BoxFuture, ChunkText, Control, LogChunk, LogSink, LogText,
    OutputStream,
};
pub use session::{LiveSession, SessionError, SessionHost, SessionOptions};

/// A name that is not one of a vocabulary's (a state, a kind, a reason, a status): what a
/// `FromStr` of this crate's enums answers for text it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a known {what}")]
pub struct UnknownName {
    /// The vocabulary: `sandbox state`, `exec status`, ….
    pub what: &'static str,
    /// The text given.
    pub name: String,
}

/// An enum of fixed snake_case names, as the database, JSON and the API spell them: each
/// variant's name once, with `as_str`, `FromStr`, `Display`, serde and (with `openapi`) a
/// schema that all agree, and `ALL` to enumerate them. Names are matched as `tt`, not
/// `literal`: a `literal` fragment reaches derive macros wrapped in an invisible group, which
/// utoipa does not read, and the schema would show the Rust variant names instead.
macro_rules! vocabulary {
    (
        $(#[$doc:meta])*
        $name:ident ($what:literal) {
            $($(#[$vdoc:meta])* $variant:ident = $text:tt,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every name, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The snake_case name, as in JSON and in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::UnknownName { what: $what, name: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

#[cfg(test)]
pub(crate) mod tests {
    /// Every name of a vocabulary survives `as_str` → `parse` and serde both ways, and serde's
    /// spelling is `as_str`'s.
    pub fn round_trips<T>(all: &[T])
    where
        T: Copy
            + PartialEq
            + std::fmt::Debug
            + std::fmt::Display
            + std::str::FromStr<Err = crate::UnknownName>
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        let mut seen = std::collections::HashSet::new();
        for &v in all {
            let name = v.to_string();
            assert!(seen.insert(name.clone()), "{name} twice");
            assert_eq!(name.parse::<T>().unwrap(), v);
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name));
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(name)).unwrap(),
                v
            );
        }
        assert!("Not-A-Name".parse::<T>().is_err());
    }
}
