//! Reading manifests: recursive directory walk, multi-document YAML, JSON, `kind: List`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::typed::Parsed;
use crate::error::{FieldError, Origin, StoreError};
use crate::model::{Resource, ResourceKind};

/// A typed object and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedObject {
    pub origin: Origin,
    pub kind: ResourceKind,
    pub resource: Resource,
}

/// What loading produced: objects in file order, plus skipped kinds.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub objects: Vec<LoadedObject>,
    pub skipped: Vec<(Origin, String)>,
}

/// Load every `*.yaml`, `*.yml` and `*.json` below `dir`, in sorted path order.
///
/// Large stores are parsed on several threads (see `super::parallel`); the result, errors
/// included, is the same as parsing file after file, document after document.
pub fn load_dir(dir: &Path) -> Result<Loaded, StoreError> {
    let texts = read_dir_texts(dir)?;
    let inputs: Vec<(&Path, &str)> = texts
        .iter()
        .map(|(file, text)| (file.as_path(), text.as_str()))
        .collect();
    let mut loaded = Loaded::default();
    super::parallel::load_files(&inputs, &mut loaded)?;
    Ok(loaded)
}

/// Every manifest file below `dir` with its text, in sorted path order.
pub(super) fn read_dir_texts(dir: &Path) -> Result<Vec<(PathBuf, String)>, StoreError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut texts = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| StoreError::Io {
            path: file.clone(),
            source,
        })?;
        texts.push((file, text));
    }
    Ok(texts)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    let io_err = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Parse one file's text (YAML, possibly multi-document; or JSON) into `loaded`.
pub fn load_text(file: &Path, text: &str, loaded: &mut Loaded) -> Result<(), StoreError> {
    super::parallel::load_files(&[(file, text)], loaded)
}

/// Parse `text` as the file `file` on this thread, numbering its documents from 1: the
/// reference the parallel loader must agree with. Returns how many documents the text held
/// (empty ones included). YAML documents are parsed straight into the typed model
/// (`super::typed`); if any of them fails, the text is parsed again through
/// `serde_json::Value`, which is what names the error (file, document, field path).
pub(super) fn load_text_sequential(
    file: &Path,
    text: &str,
    loaded: &mut Loaded,
) -> Result<usize, StoreError> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if !is_json {
        let (objects, skipped) = (loaded.objects.len(), loaded.skipped.len());
        if let Some(count) = load_yaml_typed(file, text, loaded) {
            return Ok(count);
        }
        loaded.objects.truncate(objects);
        loaded.skipped.truncate(skipped);
    }
    load_text_via_value(file, text, loaded)
}

/// The one-pass parse of a YAML text; `None` if any document failed.
pub(super) fn load_yaml_typed(file: &Path, text: &str, loaded: &mut Loaded) -> Option<usize> {
    let mut count = 0;
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        count = index + 1;
        let origin = Origin::document(file, index + 1);
        match super::typed::parse_document(document).ok()? {
            Parsed::Empty => {}
            Parsed::Object(kind, resource) => loaded.objects.push(LoadedObject {
                origin,
                kind,
                resource,
            }),
            Parsed::Skipped(kind) => loaded.skipped.push((origin, kind)),
            Parsed::Value(value) => load_document(origin, value, loaded).ok()?,
        }
    }
    Some(count)
}

/// Parse a text through `serde_json::Value`, document by document: slower, and the source of
/// every parse error.
pub(super) fn load_text_via_value(
    file: &Path,
    text: &str,
    loaded: &mut Loaded,
) -> Result<usize, StoreError> {
    let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
    if is_json {
        let origin = Origin::document(file, 1);
        let value: Value = serde_json::from_str(text).map_err(|e| StoreError::Syntax {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        load_document(origin, value, loaded)?;
        return Ok(1);
    }
    let mut count = 0;
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        count = index + 1;
        let origin = Origin::document(file, index + 1);
        let value = Value::deserialize(document).map_err(|e| StoreError::Syntax {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        load_document(origin, value, loaded)?;
    }
    Ok(count)
}

fn load_document(origin: Origin, value: Value, loaded: &mut Loaded) -> Result<(), StoreError> {
    if value.is_null() {
        return Ok(()); // an empty document, e.g. after a trailing `---`
    }
    let (_, kind) = type_of(&value).map_err(|e| StoreError::invalid(&origin, e))?;
    if kind == "List" || kind.ends_with("List") && value.get("items").is_some() {
        let items = match value {
            Value::Object(mut map) => map.remove("items").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let items = match items {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            _ => {
                return Err(StoreError::invalid(
                    &origin,
                    FieldError::new("items", "expected a list of objects"),
                ));
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let item_origin = Origin {
                item: Some(i),
                ..origin.clone()
            };
            load_object(item_origin, item, loaded)?;
        }
        return Ok(());
    }
    load_object(origin, value, loaded)
}

fn type_of(value: &Value) -> Result<(String, String), FieldError> {
    let Value::Object(map) = value else {
        return Err(FieldError::new(
            "",
            "expected a Kubernetes/Calico object (a mapping)",
        ));
    };
    let text = |key: &str| -> Result<String, FieldError> {
        match map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(FieldError::new(key, "expected a string")),
            None => Err(FieldError::new(
                key,
                "missing; every object needs apiVersion and kind",
            )),
        }
    };
    Ok((text("apiVersion")?, text("kind")?))
}

fn load_object(origin: Origin, value: Value, loaded: &mut Loaded) -> Result<(), StoreError> {
    let (api_version, kind_name) = type_of(&value).map_err(|e| StoreError::invalid(&origin, e))?;
    let Some(kind) = ResourceKind::from_type(&api_version, &kind_name) else {
        loaded
            .skipped
            .push((origin, format!("{api_version}/{kind_name}")));
        return Ok(());
    };
    let resource = typed(kind, value).map_err(|e| StoreError::invalid(&origin, e))?;
    loaded.objects.push(LoadedObject {
        origin,
        kind,
        resource,
    });
    Ok(())
}

fn typed(kind: ResourceKind, value: Value) -> Result<Resource, FieldError> {
    use ResourceKind as K;
    Ok(match kind {
        K::Namespace => Resource::Namespace(parse(value)?),
        K::Pod => Resource::Pod(Box::new(parse(value)?)),
        K::ServiceAccount => Resource::ServiceAccount(parse(value)?),
        K::K8sNetworkPolicy => Resource::K8sNetworkPolicy(parse(value)?),
        K::NetworkPolicy
        | K::GlobalNetworkPolicy
        | K::StagedNetworkPolicy
        | K::StagedGlobalNetworkPolicy => Resource::CalicoPolicy(kind, parse(value)?),
        K::StagedKubernetesNetworkPolicy => Resource::StagedK8sPolicy(parse(value)?),
        K::Tier => Resource::Tier(parse(value)?),
        K::NetworkSet | K::GlobalNetworkSet => Resource::NetworkSet(kind, parse(value)?),
        K::HostEndpoint => Resource::HostEndpoint(parse(value)?),
        K::WorkloadEndpoint => Resource::WorkloadEndpoint(parse(value)?),
        K::Profile => Resource::Profile(parse(value)?),
    })
}

/// Deserialise with the failing field's path in the error.
fn parse<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        FieldError::new(path, err.into_inner().to_string())
    })
}
