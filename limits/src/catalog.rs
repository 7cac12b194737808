//! The image catalog (`sandboxes-images/catalog.json`, compiled in): curated images by
//! category, each with its default command and resources. `GET /v1/images` lists it; sandbox
//! creation resolves catalog names through it.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// One catalog image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogImage {
    /// The name a request uses as `image`.
    pub name: String,
    /// `code-interpreter`, `python`, `pytorch` or `vllm`.
    pub category: String,
    /// What it is.
    pub description: String,
    /// The image reference deployments pull (none for `code-interpreter`, which is not a
    /// container).
    pub image: Option<String>,
    /// The image built offline by the set-up on this machine, used when present.
    pub local_image: Option<String>,
    /// The command a sandbox runs when the request names none.
    pub default_command: Option<Vec<String>>,
    /// Resources when the request names none.
    pub default_resources: serde_json::Value,
    /// Whether the image is meant for GPUs.
    pub gpu: bool,
}

/// The catalog.
pub fn images() -> &'static [CatalogImage] {
    static CATALOG: OnceLock<Vec<CatalogImage>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str(include_str!("../../sandboxes-images/catalog.json"))
            .expect("sandboxes-images/catalog.json is a valid catalog")
    })
}

/// The catalog image named `name`.
pub fn find(name: &str) -> Option<&'static CatalogImage> {
    images().iter().find(|i| i.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_parses_and_names_the_interpreter() {
        assert!(super::find("code-interpreter").is_some());
        assert!(super::images().len() >= 4);
    }
}
