//! Docker builds of templates ([`ContainerBackend::build`]): the build context (a tar) with its
//! Dockerfile's bases rewritten to what this host runs them as, built by Docker's classic
//! builder with `RUN` steps capped (memory, CPU, network off unless asked), the log passed on
//! line by line, the whole build under a time limit and the image under a size cap. Nothing is
//! taken from Docker's build cache, which all projects would share.
//!
//! `RUN` steps run in containers of the daemon's default runtime (the classic builder takes
//! no runtime): builds are as isolated as Docker's defaults, with no network by default.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptions, BuilderVersion, RemoveImageOptionsBuilder};
use futures_util::StreamExt as _;

use super::ContainerBackend;

/// Memory of each `RUN` step's container, in bytes (Docker's build API takes an `i32`).
pub const BUILD_MEMORY: i32 = 2_000_000_000;
/// CPU of each `RUN` step's container, in cores.
pub const BUILD_CPUS: i32 = 2;

/// A build to make.
#[derive(Debug)]
pub struct BuildSpec {
    /// The reference the image is tagged with.
    pub tag: String,
    /// The build context, a tar.
    pub context: Vec<u8>,
    /// The Dockerfile's path in `context`.
    pub dockerfile: String,
    /// What each base of the Dockerfile is built from here (see
    /// `sbx_limits::templates::rewrite`), by the name the Dockerfile writes.
    pub bases: HashMap<String, String>,
    /// Whether `RUN` steps may reach the network.
    pub network: bool,
    /// Longest the build may take.
    pub timeout: Duration,
    /// Largest image allowed, in bytes.
    pub max_bytes: u64,
    /// Labels of the image.
    pub labels: HashMap<String, String>,
}

/// What a build made: Docker's image id and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// `sha256:…`.
    pub image_id: String,
    /// The image's size, in bytes.
    pub size_bytes: u64,
}

impl ContainerBackend {
    /// Build `spec`, passing each line of the builder's output to `log`. The error says in
    /// words why there is no image: the Dockerfile, a failing step, the time limit, the size
    /// cap, Docker.
    pub async fn build(
        &self,
        spec: BuildSpec,
        mut log: impl FnMut(String),
    ) -> Result<Built, String> {
        let (tag, timeout, max_bytes) = (spec.tag.clone(), spec.timeout, spec.max_bytes);
        let options = BuildImageOptions {
            dockerfile: REWRITTEN.to_owned(),
            t: Some(tag.clone()),
            // Docker's cache is the daemon's, not a project's: a layer another project's build
            // made (with what its network answered) is never reused.
            nocache: true,
            rm: true,
            forcerm: true,
            networkmode: Some(if spec.network { "default" } else { "none" }.to_owned()),
            memory: Some(BUILD_MEMORY),
            memswap: Some(BUILD_MEMORY),
            cpuperiod: Some(100_000),
            cpuquota: Some(BUILD_CPUS * 100_000),
            labels: Some(spec.labels.clone()),
            version: BuilderVersion::BuilderV1,
            ..Default::default()
        };
        let context = tokio::task::spawn_blocking(move || with_rewritten_dockerfile(&spec))
            .await
            .map_err(|e| e.to_string())??;
        let mut stream = self.docker.build_image(
            options,
            None,
            Some(bollard::body_full(bytes::Bytes::from(context))),
        );
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let item = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => {
                    return Err(format!(
                        "the build took longer than its timeout of {} s",
                        timeout.as_secs()
                    ));
                }
                Ok(None) => break,
                Ok(Some(item)) => item,
            };
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.or(info.status) {
                        log(text);
                    }
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(e);
                    }
                }
                Err(
                    BollardError::DockerStreamError { error: message }
                    | BollardError::DockerResponseServerError { message, .. },
                ) => return Err(message),
                Err(e) => return Err(format!("Docker: {e}")),
            }
        }
        let image = self
            .docker
            .inspect_image(&tag)
            .await
            .map_err(|e| format!("the build ended without an image: {e}"))?;
        let size_bytes = image.size.unwrap_or_default().max(0) as u64;
        if size_bytes > max_bytes {
            self.remove_image(&tag).await;
            return Err(format!(
                "the image is {} MiB, over the cap of {} MiB",
                size_bytes >> 20,
                max_bytes >> 20
            ));
        }
        Ok(Built {
            image_id: image.id.unwrap_or_default(),
            size_bytes,
        })
    }

    /// Push local image `local` to `remote` (`host[:port]/path`, tagged `latest`) with `auth`
    /// when given. The error says why it was not pushed.
    pub async fn push(
        &self,
        local: &str,
        remote: &str,
        auth: Option<&super::RegistryAuth>,
    ) -> Result<(), String> {
        let options = bollard::query_parameters::TagImageOptionsBuilder::new()
            .repo(remote)
            .tag("latest")
            .build();
        self.docker
            .tag_image(local, Some(options))
            .await
            .map_err(|e| format!("tagging {remote}: {e}"))?;
        let options = bollard::query_parameters::PushImageOptionsBuilder::new()
            .tag("latest")
            .build();
        let credentials = super::RegistryAuth::docker(auth);
        let mut progress = self.docker.push_image(remote, Some(options), credentials);
        while let Some(item) = progress.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Remove image `reference` if no container uses it; a failure is logged, not returned
    /// (an image in use goes on a later sweep).
    pub async fn remove_image(&self, reference: &str) {
        let options = RemoveImageOptionsBuilder::new().noprune(false).build();
        if let Err(e) = self
            .docker
            .remove_image(reference, Some(options), None)
            .await
        {
            tracing::debug!(image = reference, error = %e, "an image was not removed");
        }
    }
}

/// Where the rewritten Dockerfile goes in the context sent to Docker.
const REWRITTEN: &str = ".sbx-template.Dockerfile";

/// `spec`'s context, byte for byte, with one entry added after its last: its Dockerfile with
/// the bases rewritten, at [`REWRITTEN`] (the path to build with).
fn with_rewritten_dockerfile(spec: &BuildSpec) -> Result<Vec<u8>, String> {
    let text = sbx_limits::templates::dockerfile_in(&spec.context, &spec.dockerfile)
        .map_err(|e| e.to_string())?;
    let text = sbx_limits::templates::rewrite(&text, |b| {
        spec.bases.get(b).cloned().unwrap_or_else(|| b.to_owned())
    })
    .map_err(|e| format!("{}: {e}", spec.dockerfile))?;
    let bad = |e: std::io::Error| format!("the build context is not a tar: {e}");
    // Where the last entry's data ends: what follows is the end-of-archive blocks.
    let mut end = 0u64;
    let mut archive = tar::Archive::new(&spec.context[..]);
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        end = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
    }
    let mut out = tar::Builder::new(spec.context[..end as usize].to_vec());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(text.len() as u64);
    out.append_data(&mut header, REWRITTEN, text.as_bytes())
        .map_err(bad)?;
    out.into_inner().map_err(bad)
}
