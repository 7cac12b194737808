//! Templates on this host: claiming a queued build and building it with its log in
//! `template_logs`; building a template a sandbox runs on its first use here (the image is
//! then cached in Docker); removing the images of deleted templates.
//!
//! A Dockerfile's bases are found here as [`sbx_limits::templates::bases`] lists them: a
//! template version it was pinned to when queued (built here first if missing), a catalog
//! image (its local build when this host has it), or an image this host already has. Nothing
//! is pulled for a base.
//!
//! With a deployment registry ([`TemplateRegistry`]), a build is pushed there once made, and a
//! host that lacks a template pulls it from there before it would build it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use sbx_core::OutputStream;
use sbx_core::ids::{ProjectId, RunnerId, TemplateId};
use sbx_limits::templates::docker_reference;
use sbx_store::templates::{Built, Template};

use super::ContainerHost;
use crate::container::build::BuildSpec;

/// The registry built templates are pushed to and pulled from (`SBX_TEMPLATE_REGISTRY`).
#[derive(Debug, Clone)]
pub struct TemplateRegistry {
    /// `host[:port][/path]`: a version goes to `<this>/sbx-templates/<id>:latest`.
    pub prefix: String,
    /// Credentials, when the registry needs them.
    pub auth: Option<crate::container::RegistryAuth>,
}

impl TemplateRegistry {
    /// Where template version `id` is kept in the registry.
    pub fn reference(&self, id: TemplateId) -> String {
        format!(
            "{}/{}",
            self.prefix.trim_end_matches('/'),
            docker_reference(id.0)
        )
    }
}

/// Seconds without a heartbeat after which another runner takes over a build.
const STALE_S: f64 = 60.0;
/// Templates one template's bases may chain through before a build gives up.
const MAX_DEPTH: usize = 8;
/// Most bytes of a build's log kept; past them a line says so and the rest is dropped.
const MAX_LOG_BYTES: usize = 8 << 20;
/// How often a build's log lines are written.
const LOG_EVERY: Duration = Duration::from_millis(200);

impl ContainerHost {
    /// Claim the oldest queued build and build it, unless this host is building one already.
    pub(super) async fn build_queued(self: Arc<Self>) {
        if self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        let claimed = sbx_store::templates::claim(&self.pool, RunnerId(self.runner), STALE_S).await;
        let t = match claimed {
            Ok(Some(t)) => t,
            Ok(None) => return self.building.store(false, Ordering::Release),
            Err(e) => {
                tracing::warn!(error = %e, "could not look for template builds");
                return self.building.store(false, Ordering::Release);
            }
        };
        tokio::spawn(async move {
            self.build_claimed(t).await;
            self.building.store(false, Ordering::Release);
        });
    }

    /// Build claimed template version `t`, its log written as it comes, and record the end.
    async fn build_claimed(&self, t: Template) {
        let id = t.template_id;
        tracing::info!(template = %id, name = t.name, version = t.version, "building a template");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let shipping = tokio::spawn(ship_log(self.pool.clone(), id, rx));
        let lock = self.template_lock(id);
        let built = {
            let _held = lock.lock().await;
            self.build(&t, 0, &|line| {
                let _ = tx.send(line);
            })
            .await
        };
        if let (Ok(_), Some(registry)) = (&built, &self.config.template_registry) {
            let remote = registry.reference(id);
            let pushed = self
                .backend
                .push(&docker_reference(id.0), &remote, registry.auth.as_ref())
                .await;
            let _ = tx.send(match pushed {
                Ok(()) => format!("[sbx: pushed to {remote}]\n"),
                Err(e) => format!(
                    "[sbx: not pushed to {remote} ({e}): other hosts build it on first use]\n"
                ),
            });
        }
        let built = match built {
            Ok(b) => Built::Image {
                image_id: b.image_id,
                size_bytes: b.size_bytes as i64,
            },
            Err(e) => {
                let _ = tx.send(format!("[sbx: the build failed: {e}]\n"));
                Built::Failed(e)
            }
        };
        drop(tx);
        let _ = shipping.await;
        match sbx_store::templates::finish(&self.pool, id, RunnerId(self.runner), &built).await {
            Ok(true) => tracing::info!(template = %id, ?built, "template build ended"),
            Ok(false) => {
                // Deleted (or taken over) meanwhile: its image is not wanted.
                self.forget_image(id).await;
            }
            Err(e) => {
                tracing::warn!(template = %id, error = %e, "could not record a template build")
            }
        }
    }

    /// Make sure template version `id` of `project` is on this host, building it from its
    /// stored context when it is not (its first use here). The error says why it cannot be
    /// had; another project's template is not had.
    pub(super) async fn ensure_template(
        &self,
        id: TemplateId,
        project: ProjectId,
    ) -> Result<(), String> {
        self.ensure_at(id, project, 0).await
    }

    fn ensure_at(
        &self,
        id: TemplateId,
        project: ProjectId,
        depth: usize,
    ) -> BoxFuture<'_, Result<(), String>> {
        async move {
            let lock = self.template_lock(id);
            let _held = lock.lock().await;
            let here = docker_reference(id.0);
            if let Ok(image) = self.backend.docker().inspect_image(&here).await {
                return owned_by(&here, &image, project);
            }
            let t = sbx_store::templates::by_id(&self.pool, id)
                .await
                .map_err(|e| e.to_string())?
                .filter(|t| t.project_id == project)
                .ok_or_else(|| "no such template in this project".to_owned())?;
            if t.image_id.is_none() {
                return Err(format!(
                    "template {}:{} is {}, not ready",
                    t.name, t.version, t.state
                ));
            }
            if let Some(registry) = &self.config.template_registry
                && self.pull(registry, &t).await
            {
                return Ok(());
            }
            tracing::info!(template = %id, name = t.name, version = t.version, "building a template on its first use here");
            self.build(&t, depth, &|line| {
                tracing::debug!(template = %id, line = line.trim_end(), "template build")
            })
            .await
            .map(|_| ())
            .map_err(|e| format!("building template {}:{} here: {e}", t.name, t.version))
        }
        .boxed()
    }

    /// Pull template version `t` from `registry` and tag it as this host runs it; whether it
    /// could (an image that is not the one its build made is not taken).
    async fn pull(&self, registry: &TemplateRegistry, t: &Template) -> bool {
        let id = t.template_id;
        let remote = registry.reference(id);
        if let Err(e) = self
            .backend
            .ensure_image(&remote, registry.auth.as_ref())
            .await
        {
            tracing::info!(template = %id, error = %e, "a template is not in the registry: building it");
            return false;
        }
        let pulled = self.backend.docker().inspect_image(&remote).await;
        if pulled.ok().and_then(|i| i.id) != t.image_id {
            tracing::warn!(template = %id, remote, "the registry's image is not the one built: building it");
            self.backend.remove_image(&remote).await;
            return false;
        }
        let options = bollard::query_parameters::TagImageOptionsBuilder::new()
            .repo(&docker_reference(id.0))
            .tag("latest")
            .build();
        match self
            .backend
            .docker()
            .tag_image(&remote, Some(options))
            .await
        {
            Ok(()) => {
                tracing::info!(template = %id, remote, "pulled a template from the registry");
                true
            }
            Err(e) => {
                tracing::warn!(template = %id, error = %e, "could not tag a pulled template");
                false
            }
        }
    }

    /// Build template version `t` here, tagged [`docker_reference`], passing its log to `log`.
    async fn build(
        &self,
        t: &Template,
        depth: usize,
        log: &(dyn Fn(String) + Sync),
    ) -> Result<crate::container::build::Built, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "its bases chain through more than {MAX_DEPTH} templates"
            ));
        }
        let context = sbx_store::templates::context(&self.pool, t.template_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the template was deleted".to_owned())?;
        let text = sbx_limits::templates::dockerfile_in(&context, &t.dockerfile)
            .map_err(|e| e.to_string())?;
        let mut bases = HashMap::new();
        for base in sbx_limits::templates::bases(&text)? {
            let reference = match t.bases.get(&base.image) {
                Some(id) => {
                    self.ensure_at(*id, t.project_id, depth + 1).await?;
                    docker_reference(id.0)
                }
                None => self.base_image(&base.image, t.project_id).await?,
            };
            log(format!("[sbx: {} is {reference}]\n", base.image));
            bases.insert(base.image, reference);
        }
        let labels = HashMap::from([
            ("sbx.template".to_owned(), t.template_id.to_string()),
            ("sbx.project".to_owned(), t.project_id.to_string()),
            ("sbx.database".to_owned(), self.database.clone()),
        ]);
        let spec = BuildSpec {
            tag: docker_reference(t.template_id.0),
            context,
            dockerfile: t.dockerfile.clone(),
            bases,
            network: t.network,
            timeout: Duration::from_secs(t.timeout_s.max(1) as u64),
            max_bytes: self.config.template_max_bytes,
            labels,
        };
        self.backend.build(spec, log).await
    }

    /// What base `image` (not a template) of a template of `project` is built from here: a
    /// catalog image's local build or its reference, or the image itself, whichever this host
    /// has (never another project's template).
    async fn base_image(&self, image: &str, project: ProjectId) -> Result<String, String> {
        if sbx_limits::templates::is_reserved(image) {
            return Err(format!("{image}: name a template by its name"));
        }
        let docker = self.backend.docker();
        let candidates: Vec<String> = match sbx_limits::catalog::find(image) {
            Some(c) => c.local_image.iter().chain(&c.image).cloned().collect(),
            None => vec![image.to_owned()],
        };
        for c in &candidates {
            if let Ok(found) = docker.inspect_image(c).await {
                owned_by(c, &found, project)?;
                return Ok(c.clone());
            }
        }
        Err(format!(
            "{image}: this host has no such image (nothing is pulled): start from a catalog \
             image (GET /v1/images), one of the project's templates, or an image the hosts have"
        ))
    }

    /// Refuses image `reference` on this host when it is a template's build (by its labels,
    /// whatever it is called: a tag, an id) of another project than `project`.
    pub(super) async fn check_owner(
        &self,
        reference: &str,
        project: ProjectId,
    ) -> Result<(), String> {
        match self.backend.docker().inspect_image(reference).await {
            Ok(image) => owned_by(reference, &image, project),
            Err(_) => Ok(()),
        }
    }

    /// The lock that one build of template version `id` on this host holds.
    fn template_lock(&self, id: TemplateId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.template_locks.lock().expect("template locks");
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(id).or_default().clone()
    }

    /// Remove the images of template versions that were deleted (an image a container still
    /// runs stays until a later sweep).
    pub(super) async fn sweep_templates(&self) {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_owned(),
            vec![
                format!("sbx.database={}", self.database),
                "sbx.template".to_owned(),
            ],
        );
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let Ok(images) = self.backend.docker().list_images(Some(options)).await else {
            return;
        };
        let ids: Vec<uuid::Uuid> = images
            .iter()
            .filter_map(|i| uuid::Uuid::parse_str(i.labels.get("sbx.template")?).ok())
            .collect();
        if ids.is_empty() {
            return;
        }
        let Ok(existing) = sbx_store::templates::existing(&self.pool, &ids).await else {
            return;
        };
        for id in ids.iter().filter(|id| !existing.contains(id)) {
            tracing::info!(template = %id, "removing the image of a deleted template");
            self.forget_image(TemplateId(*id)).await;
        }
    }

    /// Remove template version `id`'s image here, under both of its names (this host's and
    /// the registry's).
    async fn forget_image(&self, id: TemplateId) {
        self.backend.remove_image(&docker_reference(id.0)).await;
        if let Some(registry) = &self.config.template_registry {
            self.backend.remove_image(&registry.reference(id)).await;
        }
    }
}

/// Refuses `image` (found as `reference`) when its labels say it is another project's template
/// build than `project`'s.
fn owned_by(
    reference: &str,
    image: &bollard::models::ImageInspect,
    project: ProjectId,
) -> Result<(), String> {
    let labels = image.config.as_ref().and_then(|c| c.labels.as_ref());
    let label = |k: &str| labels.and_then(|l| l.get(k));
    if label("sbx.template").is_some() && label("sbx.project") != Some(&project.to_string()) {
        return Err(format!("{reference}: not a template of this project"));
    }
    Ok(())
}

/// Write build log lines from `rx` into template version `id`'s log, in batches: a line waits
/// at most [`LOG_EVERY`]; [`MAX_LOG_BYTES`] are kept.
async fn ship_log(
    pool: sbx_store::Pool,
    id: TemplateId,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let mut seq = 0;
    let mut batch: Vec<(OutputStream, String)> = Vec::new();
    let mut flush_at = None;
    let mut kept = 0;
    loop {
        let due = flush_at;
        let ended = tokio::select! {
            line = rx.recv() => match line {
                Some(line) => {
                    // PostgreSQL's text takes no NUL.
                    let line = line.replace('\0', "\u{FFFD}");
                    kept += line.len();
                    if kept > MAX_LOG_BYTES + line.len() {
                        continue;
                    }
                    let line = if kept > MAX_LOG_BYTES {
                        format!("[sbx: the log is over {} MiB; the rest is not kept]\n", MAX_LOG_BYTES >> 20)
                    } else {
                        line
                    };
                    batch.push((OutputStream::Stdout, line));
                    flush_at.get_or_insert_with(|| tokio::time::Instant::now() + LOG_EVERY);
                    if batch.len() < 256 {
                        continue;
                    }
                    false
                }
                None => true,
            },
            () = async { tokio::time::sleep_until(due.expect("set")).await }, if due.is_some() => false,
        };
        if !batch.is_empty() {
            match sbx_store::logs::append(&pool, id, seq, &batch).await {
                Ok(s) => seq = s,
                Err(e) => tracing::warn!(template = %id, error = %e, "could not keep a build log"),
            }
            batch.clear();
        }
        flush_at = None;
        if ended {
            return;
        }
    }
}
