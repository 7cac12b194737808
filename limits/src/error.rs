//! [`LimitError`]: what is wrong with a request's limits, a sandbox request, configured prices
//! or a declared GPU inventory. Each variant names the field at fault where there is one
//! ([`LimitError::field`]); the API answers request errors 422 `invalid_limit` with it.

use crate::gpu::MAX_DECLARED_CARDS;

/// What is wrong with a limit, a request, prices or a declared GPU inventory.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// Below the smallest allowed value (zero, for most).
    #[error("{field} must be at least {min}; got {got}")]
    TooSmall {
        /// The request field.
        field: &'static str,
        /// The smallest allowed.
        min: u64,
        /// What was asked.
        got: u64,
    },
    /// Above the project's ceiling.
    #[error("{field} may be at most {max} for this project; got {got}")]
    TooLarge {
        /// The request field.
        field: &'static str,
        /// The project's ceiling.
        max: u64,
        /// What was asked.
        got: u64,
    },
    /// A quantity that does not parse.
    #[error("{field}: {value:?} is not a quantity of bytes (e.g. \"512Mi\", \"2Gi\", \"1G\")")]
    Quantity {
        /// The field.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// A value outside what is allowed.
    #[error("{field}: {detail}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Why.
        detail: String,
    },
    /// Prices that are not a JSON object of known price fields (at start-up: the process
    /// refuses to start).
    #[error(
        "prices must be a JSON object with any of cpu_core_second, memory_gib_second, \
         gpu_second (an object of model to price), gpu_default_second, storage_gib_second, \
         exec_second: {0}"
    )]
    PriceJson(String),
    /// A `gpu_second` price key that names no model.
    #[error("gpu_second has a blank model name: name models as the GPU inventory does")]
    BlankPriceModel,
    /// A price that is negative or not finite.
    #[error("price {field} must be a number of USD per second, 0 or more; got {value}")]
    Price {
        /// The field (`gpu_second.<model>` for a GPU model).
        field: String,
        /// What was given.
        value: f64,
    },
    /// No GPU declared (at start-up: the runner refuses to start).
    #[error("the GPU spec is empty: declare cards like \"2xH100 80GB\" or \"H100 80GB,A10G 24GB\"")]
    GpuSpecEmpty,
    /// One entry of a declared GPU inventory does not parse (at start-up: the runner refuses
    /// to start).
    #[error("GPU spec entry {index} ({entry:?}): {detail}")]
    GpuSpecEntry {
        /// Position of the entry, from 1.
        index: usize,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        detail: String,
    },
    /// More declared cards than [`MAX_DECLARED_CARDS`] (at start-up: the runner refuses to
    /// start).
    #[error("the GPU spec declares {count} cards; at most {MAX_DECLARED_CARDS} may be declared")]
    TooManyGpus {
        /// Cards declared.
        count: usize,
    },
}

impl LimitError {
    /// The request field at fault; `""` for configuration (prices, GPUs).
    pub fn field(&self) -> &'static str {
        match self {
            Self::TooSmall { field, .. }
            | Self::TooLarge { field, .. }
            | Self::Quantity { field, .. }
            | Self::OutOfRange { field, .. } => field,
            _ => "",
        }
    }
}
