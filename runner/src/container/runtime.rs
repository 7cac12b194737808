//! Which OCI runtime runs containers: gVisor (`runsc`) where Docker has it, else `runc`.
//!
//! gVisor puts a user-space kernel between the container and the host's: a guest's system
//! calls reach gVisor's Sentry, not Linux, so a kernel bug the guest could reach through runc
//! is out of its reach. Docker knows it under two names, both registered by the set-up
//! (`scripts/docker.sh`): `runsc` (`--network=none`: gVisor's own stack with loopback only,
//! for sandboxes without network, the default) and `runsc-net` (`--network=host`: sockets
//! passed to the host's stack inside the container's own network namespace, for sandboxes
//! with `network: true`; gVisor's own stack does not start on these machines).
//!
//! gVisor becomes the default only where it passes [`probe`]: Debian 12's runsc (2022-12)
//! refuses the `statx` that coreutils call, so `ls` and `stat` fail inside; there runners keep
//! runc and say why, and `SBX_CONTAINER_RUNTIME=runsc` still asks for gVisor.

use bollard::Docker;

use crate::RunnerError;

/// Docker's name for gVisor without network.
pub const RUNSC: &str = "runsc";
/// Docker's name for gVisor with network.
pub const RUNSC_NET: &str = "runsc-net";

/// The runtime containers run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainerRuntime {
    /// runc, Docker's default: namespaces, cgroups, seccomp on the host's kernel.
    #[default]
    Runc,
    /// gVisor: a user-space kernel in front of the host's.
    Gvisor,
}

impl ContainerRuntime {
    /// Its name in settings and in the API: `runc` or `runsc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runc => "runc",
            Self::Gvisor => RUNSC,
        }
    }

    /// Docker's runtime for a container with or without `network` (`None`: Docker's default).
    pub fn docker_runtime(self, network: bool) -> Option<&'static str> {
        match self {
            Self::Runc => None,
            Self::Gvisor => Some(if network { RUNSC_NET } else { RUNSC }),
        }
    }

    /// The runtime to use on `docker`: `asked` (`runsc` or `runc`, from
    /// `SBX_CONTAINER_RUNTIME`), which must be there; or, when none is asked, gVisor if Docker
    /// has both of its names and it passes [`probe`] in image `probe_image`, else runc (with a
    /// warning that says why).
    ///
    /// # Errors
    /// [`RunnerError::InvalidSpec`] for another name, or `runsc` asked of a Docker without it;
    /// [`RunnerError::Docker`] when Docker does not answer.
    pub async fn choose(
        docker: &Docker,
        asked: Option<&str>,
        probe_image: Option<&str>,
    ) -> crate::Result<Self> {
        let info = docker
            .info()
            .await
            .map_err(|e| RunnerError::Docker(format!("reading Docker's runtimes: {e}")))?;
        let has = |name: &str| info.runtimes.as_ref().is_some_and(|r| r.contains_key(name));
        let gvisor = has(RUNSC) && has(RUNSC_NET);
        match asked {
            None if gvisor => match probe_image {
                None => {
                    tracing::warn!(
                        "gVisor is registered, but no local image to try it with: containers run under runc"
                    );
                    Ok(Self::Runc)
                }
                Some(image) => match probe_once(docker, image).await {
                    Ok(()) => Ok(Self::Gvisor),
                    Err(why) => {
                        tracing::warn!(
                            %why,
                            "gVisor fails a basic check here: containers run under runc \
                             (SBX_CONTAINER_RUNTIME=runsc uses it anyway)"
                        );
                        Ok(Self::Runc)
                    }
                },
            },
            None | Some("runc") => Ok(Self::Runc),
            Some(RUNSC) if gvisor => Ok(Self::Gvisor),
            Some(RUNSC) => Err(RunnerError::InvalidSpec(format!(
                "SBX_CONTAINER_RUNTIME=runsc, but Docker has no `{RUNSC}` and `{RUNSC_NET}` \
                 runtimes: run scripts/run (it installs gVisor and registers them)"
            ))),
            Some(other) => Err(RunnerError::InvalidSpec(format!(
                "SBX_CONTAINER_RUNTIME={other:?}: it is `runsc` or `runc`"
            ))),
        }
    }
}

/// [`probe`], once per process: its answer does not change while Docker runs.
async fn probe_once(docker: &Docker, image: &str) -> Result<(), String> {
    static ANSWER: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();
    ANSWER.get_or_init(|| probe(docker, image)).await.clone()
}

/// What gVisor must do in `image` before it becomes the default: run the everyday tools a
/// sandbox's user runs first (`ls`, `stat`: coreutils call `statx`, which Debian 12's runsc
/// of 2022-12 refuses with EINVAL), and pass a 1 MiB `write` to stdout whole (the same runsc
/// delivers its first 64 KiB to Docker and reports all of it written). `Err` says what failed.
pub async fn probe(docker: &Docker, image: &str) -> Result<(), String> {
    use bollard::models::{ContainerCreateBody, HostConfig};
    use bollard::query_parameters::{
        CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
        WaitContainerOptionsBuilder,
    };
    use futures_util::StreamExt as _;
    let name = format!("sbx-probe-{}", uuid::Uuid::now_v7().simple());
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(
            [
                "sh",
                "-c",
                "ls / >/dev/null && stat /tmp >/dev/null && dd if=/dev/zero bs=1048576 count=1 2>/dev/null",
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            runtime: Some(RUNSC.to_owned()),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let run = async {
        docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| e.to_string())?;
        docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut wait =
            docker.wait_container(&name, Some(WaitContainerOptionsBuilder::new().build()));
        let code = match wait.next().await {
            Some(Ok(w)) => w.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the probe's wait ended early".into()),
        };
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let logs: Vec<bollard::container::LogOutput> = docker
            .logs(&name, Some(options))
            .filter_map(|l| async move { l.ok() })
            .collect()
            .await;
        if code != 0 {
            let said: String = logs.iter().map(ToString::to_string).collect();
            return Err(format!("exit {code}: {}", said.trim()));
        }
        let out: usize = logs
            .into_iter()
            .filter(|l| matches!(l, bollard::container::LogOutput::StdOut { .. }))
            .map(|l| l.into_bytes().len())
            .sum();
        if out == 1 << 20 {
            Ok(())
        } else {
            Err(format!("a 1 MiB write to stdout came out as {out} bytes"))
        }
    };
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| Err("the probe took over 30 s".into()));
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    let _ = docker.remove_container(&name, Some(remove)).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gvisor_has_a_name_with_network_and_one_without() {
        assert_eq!(ContainerRuntime::Runc.docker_runtime(true), None);
        assert_eq!(
            ContainerRuntime::Gvisor.docker_runtime(false),
            Some("runsc")
        );
        assert_eq!(
            ContainerRuntime::Gvisor.docker_runtime(true),
            Some("runsc-net")
        );
        assert_eq!(ContainerRuntime::Gvisor.as_str(), "runsc");
    }
}
