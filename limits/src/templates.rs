//! Templates: a project's own container images, built from a Dockerfile and a build context.
//! What a template may be called, how a sandbox's `image` names one, the Docker reference its
//! build is tagged with, and what a Dockerfile may start from (parsed with `dockerfile-parser`).
//!
//! A Dockerfile's bases (each `FROM` image, each `COPY --from=` image) are catalog images, the
//! project's other templates, or images the building host already has; no registry is needed.
//! The runner that builds a template rewrites each base to the reference it runs on that host
//! ([`rewrite`]): a catalog name to the catalog's local build, a template to its tag.

use dockerfile_parser::{Dockerfile, Instruction, Span};

/// Longest template name.
pub const MAX_NAME: usize = 63;
/// Largest Dockerfile, in bytes.
pub const MAX_DOCKERFILE_BYTES: usize = 256 << 10;
/// The repository a built template is tagged in (`sbx-templates/<id, 32 hex digits>`).
const REPOSITORY: &str = "sbx-templates/";

/// Whether `name` may name a template: 1–63 of `a-z0-9._-`, starting with a letter or digit,
/// and not a catalog image's name (those stay the catalog's). The error says why not.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if name.is_empty()
        || name.len() > MAX_NAME
        || !ok_chars
        || !name.as_bytes()[0].is_ascii_alphanumeric()
    {
        return Err(format!(
            "{name:?} is not a template name: 1 to {MAX_NAME} of a-z, 0-9, '.', '_' and '-', \
             starting with a letter or a digit"
        ));
    }
    if crate::catalog::find(name).is_some() {
        return Err(format!(
            "{name:?} is a catalog image's name (GET /v1/images): pick another"
        ));
    }
    Ok(())
}

/// What a sandbox's `image` says when it names a template: the name, and the version when
/// pinned (`name:3`; `name:latest` is the newest ready one, as `name` is). `None` when it cannot name one (a catalog name, a reference with a
/// registry or a path, a tag that is not a version).
pub fn parse_image(image: &str) -> Option<(&str, Option<i32>)> {
    let (name, version) = match image.split_once(':') {
        Some((name, "latest")) => (name, None),
        Some((name, v)) => (name, Some(v.parse::<i32>().ok().filter(|v| *v >= 1)?)),
        None => (image, None),
    };
    check_name(name).ok()?;
    Some((name, version))
}

/// The Docker reference template version `id`'s image is tagged with.
pub fn docker_reference(id: uuid::Uuid) -> String {
    format!("{REPOSITORY}{}", id.simple())
}

/// Whether image reference `reference` is in the repository of built templates (any
/// registry's): such a reference is sbx's to make, never a request's, since it would name any
/// project's build. Requests name templates by name.
pub fn is_reserved(reference: &str) -> bool {
    reference.starts_with(REPOSITORY) || reference.contains(&format!("/{REPOSITORY}"))
}

/// The template version a Docker reference made by [`docker_reference`] names.
pub fn template_of(reference: &str) -> Option<uuid::Uuid> {
    let hex = reference.strip_prefix(REPOSITORY)?;
    let hex = hex.strip_suffix(":latest").unwrap_or(hex);
    (hex.len() == 32).then(|| uuid::Uuid::try_parse(hex).ok())?
}

/// One image a Dockerfile starts from or copies from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The image as the Dockerfile writes it (`python`, `my-template:2`, `debian:12`).
    pub image: String,
    /// Where it is written, in bytes of the Dockerfile.
    span: Span,
}

/// The images Dockerfile `text` starts from (`FROM`) and copies from (`COPY --from=`), in
/// order, without `scratch` and the names of its own stages. An error says what is wrong in
/// words: not parsed, no `FROM`, a variable in an image (not supported: the image must be
/// known before the build), a reference into the repository of builds ([`is_reserved`]), an
/// instruction that could name an image or a URL out of sight (`FROM` or `COPY --from` the
/// parser cannot read, `ONBUILD`, `ADD` of a URL or a variable: dockerd would fetch it from
/// the host's network), an `escape` directive.
pub fn bases(text: &str) -> Result<Vec<Base>, String> {
    if text.len() > MAX_DOCKERFILE_BYTES {
        return Err(format!(
            "the Dockerfile is over {} KiB",
            MAX_DOCKERFILE_BYTES >> 10
        ));
    }
    if let Some(line) = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .find(|l| {
            let d = l.trim_start()[1..].trim_start().to_ascii_lowercase();
            d.starts_with("escape") && d.contains('=')
        })
    {
        return Err(format!("{line:?}: the escape directive is not supported"));
    }
    let parsed = Dockerfile::parse(text).map_err(|e| e.to_string())?;
    let line_of = |span: &Span| text[..span.start.min(text.len())].matches('\n').count() + 1;
    let mut stages: Vec<String> = Vec::new();
    let mut found = Vec::new();
    let mut saw_from = false;
    let mut take = |image: &str, span: Span, stages: &[String]| -> Result<(), String> {
        let lower = image.to_ascii_lowercase();
        if lower == "scratch" || stages.contains(&lower) || image.parse::<usize>().is_ok() {
            return Ok(());
        }
        if is_reserved(image) {
            return Err(format!(
                "{image:?}: name a template by its name (`my-template` or `my-template:2`)"
            ));
        }
        if image.contains('$') {
            return Err(format!(
                "{image:?}: a base image may not use variables; write the image itself"
            ));
        }
        found.push(Base {
            image: image.to_owned(),
            span,
        });
        Ok(())
    };
    for instruction in &parsed.instructions {
        match instruction {
            Instruction::From(from) => {
                saw_from = true;
                take(&from.image.content, from.image.span, &stages)?;
                if let Some(alias) = &from.alias {
                    stages.push(alias.content.to_ascii_lowercase());
                }
            }
            Instruction::Copy(copy) => {
                for flag in copy.flags.iter().filter(|f| f.name.content == "from") {
                    take(&flag.value.content, flag.value.span, &stages)?;
                }
            }
            Instruction::Misc(misc) => {
                let name = misc.instruction.content.to_ascii_uppercase();
                let args = misc.arguments.to_string();
                let line = line_of(&misc.span);
                let refused = match name.as_str() {
                    "FROM" => Some("write `FROM image [AS name]`, without quotes"),
                    "COPY" if args.contains("--from") => {
                        Some("write `COPY --from=stage-or-image src dest`, without quotes")
                    }
                    "ONBUILD" => Some("ONBUILD is not supported in templates"),
                    "ADD"
                        if args.split_whitespace().any(|a| {
                            a.contains("://") || a.starts_with("git@") || a.contains('$')
                        }) =>
                    {
                        Some(
                            "ADD takes files of the build context only (fetch with RUN, with \
                             network on)",
                        )
                    }
                    _ => None,
                };
                if let Some(why) = refused {
                    return Err(format!("line {line}: {name} {}: {why}", args.trim()));
                }
            }
            _ => {}
        }
    }
    if !saw_from {
        return Err("a Dockerfile starts from an image: it has no FROM".into());
    }
    Ok(found)
}

/// Dockerfile `text` with each of its bases (see [`bases`]) replaced by `resolve`'s answer for
/// it, everything else as written.
pub fn rewrite(text: &str, mut resolve: impl FnMut(&str) -> String) -> Result<String, String> {
    let parsed = Dockerfile::parse(text).map_err(|e| e.to_string())?;
    let mut splicer = parsed.splicer();
    for base in bases(text)? {
        splicer.splice(&base.span, &resolve(&base.image));
    }
    Ok(splicer.content)
}

/// Largest build context, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 64 << 20;

/// What is wrong with a build context, by the part of a request it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The archive: not a tar, or an entry's path out of it.
    #[error("{0}")]
    Archive(String),
    /// The Dockerfile: not in it, too large, not text.
    #[error("{0}")]
    Dockerfile(String),
}

/// The Dockerfile at `path` in build context `context` (a tar), as text, after checking every
/// entry's path: relative, without `..`. The error names the entry or says what is missing.
pub fn dockerfile_in(context: &[u8], path: &str) -> Result<String, ContextError> {
    use std::io::Read as _;
    let wanted = path.trim_start_matches("./");
    let bad =
        |e: std::io::Error| ContextError::Archive(format!("the build context is not a tar: {e}"));
    let mut text = None;
    let mut archive = tar::Archive::new(context);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.into_owned();
        if name.is_absolute()
            || name
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(ContextError::Archive(format!(
                "{}: paths in the build context are relative, without '..'",
                name.display()
            )));
        }
        if name.to_string_lossy().trim_start_matches("./") == wanted
            && entry.header().entry_type().is_file()
        {
            if entry.size() > MAX_DOCKERFILE_BYTES as u64 {
                return Err(ContextError::Dockerfile(format!(
                    "{wanted}: over {} KiB",
                    MAX_DOCKERFILE_BYTES >> 10
                )));
            }
            let mut t = String::new();
            entry
                .read_to_string(&mut t)
                .map_err(|e| ContextError::Dockerfile(format!("{wanted}: not UTF-8 text ({e})")))?;
            text = Some(t);
        }
    }
    text.ok_or_else(|| ContextError::Dockerfile(format!("the build context has no file {wanted}")))
}

/// A build context (a tar) holding `files` (path, contents), each mode 0644.
pub fn context_of(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *data)?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_catalog_names_kept() {
        assert!(check_name("my-env.v2_x").is_ok());
        for bad in ["", "-a", "A", "a/b", "a:b", &"a".repeat(64), "python"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_image_names_a_template_with_or_without_a_version() {
        assert_eq!(parse_image("my-env"), Some(("my-env", None)));
        assert_eq!(parse_image("my-env:3"), Some(("my-env", Some(3))));
        assert_eq!(parse_image("my-env:latest"), Some(("my-env", None)));
        for not in ["my-env:0", "ghcr.io/x/y", "python", "x:-1"] {
            assert_eq!(parse_image(not), None, "{not:?}");
        }
    }

    #[test]
    fn references_go_there_and_back() {
        let id = uuid::Uuid::now_v7();
        let r = docker_reference(id);
        assert_eq!(template_of(&r), Some(id));
        assert_eq!(template_of(&format!("{r}:latest")), Some(id));
        assert_eq!(template_of("sbx/python:local"), None);
        assert_eq!(template_of("sbx-templates/zz"), None);
        assert!(is_reserved(&r) && is_reserved(&format!("127.0.0.1:5000/team/{r}")));
        assert!(!is_reserved("python") && !is_reserved("ghcr.io/sbx-templatesx/y"));
    }

    #[test]
    fn bases_skip_stages_and_scratch_and_are_rewritten() {
        let text = "# syntax note\nFROM python AS build\nRUN echo hi > /x\n\
                    FROM my-env:2\nCOPY --from=build /x /x\nCOPY --from=debian:12 /etc/os-release /o\n\
                    FROM scratch\n";
        let found: Vec<String> = bases(text).unwrap().into_iter().map(|b| b.image).collect();
        assert_eq!(found, ["python", "my-env:2", "debian:12"]);
        let out = rewrite(text, |b| format!("<{b}>")).unwrap();
        assert!(out.contains("FROM <python> AS build\n"), "{out}");
        assert!(out.contains("FROM <my-env:2>\n"), "{out}");
        assert!(out.contains("COPY --from=build /x /x\n"), "{out}");
        assert!(out.contains("COPY --from=<debian:12> /etc"), "{out}");
        assert!(out.ends_with("FROM scratch\n"), "{out}");
    }

    fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        context_of(entries).unwrap()
    }

    #[test]
    fn the_dockerfile_is_found_and_paths_checked() {
        let ctx = tar(&[("app/x.py", b"print(1)"), ("Dockerfile", b"FROM python\n")]);
        assert_eq!(dockerfile_in(&ctx, "Dockerfile").unwrap(), "FROM python\n");
        assert_eq!(
            dockerfile_in(&ctx, "./Dockerfile").unwrap(),
            "FROM python\n"
        );
        assert!(matches!(
            dockerfile_in(&ctx, "build/Dockerfile"),
            Err(ContextError::Dockerfile(e)) if e.contains("no file")
        ));
        assert!(matches!(
            dockerfile_in(&[7; 1024], "Dockerfile"),
            Err(ContextError::Archive(_))
        ));
        // `tar::Builder` refuses to write `..`; a raw header does not.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(0);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend_from_slice(&[0; 1024]);
        assert!(matches!(
            dockerfile_in(&raw, "Dockerfile"),
            Err(ContextError::Archive(e)) if e.contains("../escape")
        ));
    }

    #[test]
    fn what_cannot_be_built_is_said() {
        let no_from = bases("RUN true\n").unwrap_err();
        assert!(no_from.contains("no FROM"), "{no_from}");
        let var = bases("ARG B=python\nFROM ${B}\n").unwrap_err();
        assert!(var.contains("variables"), "{var}");
        let other = format!("FROM {}\n", docker_reference(uuid::Uuid::now_v7()));
        assert!(bases(&other).unwrap_err().contains("by its name"));
        for (text, says) in [
            ("FROM python\nADD https://example.com/x /x\n", "line 2: ADD"),
            ("FROM python\nARG U=x\nADD $U /x\n", "line 3: ADD"),
            ("FROM \"debian\"\n", "line 1: FROM"),
            ("FROM python\nONBUILD COPY --from=debian / /\n", "ONBUILD"),
            ("# escape=`\nFROM python\n", "escape"),
        ] {
            let e = bases(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
        assert!(bases("FROM python\nADD app.tar /app/\n").is_ok());
        // A quoted COPY --from is read, and rewritten quotes and all.
        let quoted = "FROM python\nCOPY --from=\"debian\" / /x\n";
        let out = rewrite(quoted, |b| format!("<{b}>")).unwrap();
        assert!(out.ends_with("COPY --from=<debian> / /x\n"), "{out}");
    }
}
