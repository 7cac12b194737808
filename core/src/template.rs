//! The template vocabulary: where a template version's build is ([`TemplateState`]). The
//! database keeps it as its snake_case name; the API shows the same names.

crate::vocabulary! {
    /// Where a template version is: `queued → building → ready | failed`.
    TemplateState ("template state") {
        /// Waiting for a runner with Docker to build it.
        Queued = "queued",
        /// A runner is building it; its log grows.
        Building = "building",
        /// Built: sandboxes and jobs may run it.
        Ready = "ready",
        /// The build failed, timed out or made an image over the size cap: see `error`.
        Failed = "failed",
    }
}

impl TemplateState {
    /// Whether the build has ended (ready or failed).
    pub const fn is_ended(self) -> bool {
        matches!(self, Self::Ready | Self::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        crate::tests::round_trips(TemplateState::ALL);
    }
}
