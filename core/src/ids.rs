//! Typed ids. Each is a UUIDv7 (time-ordered, so ids sort by creation) behind a newtype, so a
//! project id cannot be passed where a job id belongs.

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// The id in `s`, if it is a UUID.
            pub fn parse(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A user: a person who owns projects and has a KYC status.
    UserId
);
id!(
    /// A project: the unit of isolation, limits and billing.
    ProjectId
);
id!(
    /// An API key.
    ApiKeyId
);
id!(
    /// A job (every exec is one).
    JobId
);
id!(
    /// A batch of exec items.
    BatchId
);
id!(
    /// A runner process.
    RunnerId
);
id!(
    /// A sandbox.
    SandboxId
);
id!(
    /// One version of a template (a project's own image, built from a Dockerfile).
    TemplateId
);
id!(
    /// A command run in a container sandbox (`POST /v1/sandboxes/{id}/exec` with `command`).
    CommandId
);
