//! Object metadata shared by every kind. Standard fields the API server adds (uid,
//! resourceVersion, managedFields, ...) are accepted and ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The part of `metadata` Palisade uses; everything else is ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}
