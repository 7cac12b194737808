//! The image catalog (`sandboxes-images/catalog.json`, compiled in): curated images by
//! category, each with its default command and resources. `GET /v1/images` lists it; sandbox
//! creation resolves catalog names through it.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// One catalog image.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    pub default_resources: DefaultResources,
    /// Whether the image is meant for GPUs.
    pub gpu: bool,
}

/// What a sandbox of a catalog image gets when its request names none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefaultResources {
    /// CPU cores (shown as an integer when whole, as the catalog writes it).
    #[serde(serialize_with = "whole_as_integer")]
    pub cpu: f64,
    /// Memory as a quantity (`16Gi`).
    pub memory: String,
    /// The GPU share the image is meant for, if any.
    pub gpu: Option<crate::sandbox::GpuRequest>,
}

fn whole_as_integer<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        s.serialize_i64(*x as i64)
    } else {
        s.serialize_f64(*x)
    }
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

    #[test]
    fn defaults_show_as_the_catalog_writes_them() {
        let py = super::find("python").unwrap();
        assert_eq!(
            serde_json::to_value(&py.default_resources).unwrap(),
            serde_json::json!({"cpu": 1, "memory": "1Gi", "gpu": null})
        );
        let torch = super::find("pytorch").unwrap();
        assert_eq!(
            serde_json::to_value(&torch.default_resources).unwrap()["gpu"],
            serde_json::json!({"type": "any", "count": 1, "fraction": 1.0})
        );
    }
}
