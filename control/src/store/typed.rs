//! One-pass parsing of a YAML document straight into the typed model.
//!
//! Contract: `parse_document` either fails (any reason: the caller then parses the whole text
//! again through `serde_json::Value`, which names the error) or returns what the value path
//! would produce for the document. When the document's first two keys are `apiVersion` and
//! `kind` (as `kubectl`/`calicoctl` print them and generators write them), the rest of the
//! mapping is deserialized directly into the kind's type through `Strict`, with no
//! intermediate value; skipped kinds are checked like a value and dropped. Any other
//! document (keys in another order, `kind: List`, scalars) is read into a `Value` exactly as
//! `Value::deserialize` would and handed back for the value path.

use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::strict::{LikeValue, StrictMap};
use crate::model::{Resource, ResourceKind};

/// What one document held.
#[allow(clippy::large_enum_variant)] // one per document, moved once: boxing would only add an allocation
pub(super) enum Parsed {
    /// Nothing (an empty document).
    Empty,
    /// A kind Palisade reads, typed.
    Object(ResourceKind, Resource),
    /// A kind Palisade skips, as `apiVersion/kind`.
    Skipped(String),
    /// Anything else, for the value path.
    Value(Value),
}

/// Parse one document from `d` (a `serde_yaml_ng` document deserializer).
pub(super) fn parse_document<'de, D: Deserializer<'de>>(d: D) -> Result<Parsed, D::Error> {
    d.deserialize_any(DocumentVisitor)
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes/Calico object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        Ok(Parsed::Empty)
    }

    fn visit_none<E: de::Error>(self) -> Result<Parsed, E> {
        Ok(Parsed::Empty)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        // Keys and values read as `Value::deserialize` reads them, until the type is known.
        let mut seen: Vec<(String, Value)> = Vec::new();
        while seen.len() < 2 {
            let Some(key) = map.next_key::<String>()? else {
                return Ok(Parsed::Value(into_value(seen)));
            };
            let value: Value = map.next_value()?;
            seen.push((key, value));
        }
        let field = |name: &str| {
            seen.iter().find_map(|(k, v)| match v {
                Value::String(s) if k == name => Some(s.clone()),
                _ => None,
            })
        };
        let (Some(api_version), Some(kind_name)) = (field("apiVersion"), field("kind")) else {
            return rest_as_value(seen, map);
        };
        if kind_name.ends_with("List") {
            return rest_as_value(seen, map); // maybe a List: its items go the value path
        }
        let rest = || MapAccessDeserializer::new(RestOfObject(StrictMap(map)));
        let Some(kind) = ResourceKind::from_type(&api_version, &kind_name) else {
            LikeValue.deserialize(rest())?;
            return Ok(Parsed::Skipped(format!("{api_version}/{kind_name}")));
        };
        Ok(Parsed::Object(kind, typed(kind, rest())?))
    }
}

/// The document as the value it is: the entries read so far plus the rest of the map.
fn rest_as_value<'de, A: MapAccess<'de>>(
    mut seen: Vec<(String, Value)>,
    mut map: A,
) -> Result<Parsed, A::Error> {
    while let Some(key) = map.next_key::<String>()? {
        let value: Value = map.next_value()?;
        seen.push((key, value));
    }
    Ok(Parsed::Value(into_value(seen)))
}

/// A JSON object from entries in order, a later duplicate key replacing the earlier value
/// (as `Value::deserialize` does).
fn into_value(entries: Vec<(String, Value)>) -> Value {
    let mut object = Map::new();
    for (key, value) in entries {
        object.insert(key, value);
    }
    Value::Object(object)
}

/// The rest of an object's top-level map after `apiVersion` and `kind`: refuses a second
/// `apiVersion` or `kind` (the value path would take the last one; a duplicate key is rare
/// enough to leave to it).
struct RestOfObject<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for RestOfObject<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.0.next_key::<String>()? else {
            return Ok(None);
        };
        if key == "apiVersion" || key == "kind" {
            return Err(de::Error::custom(format!("duplicate key {key}")));
        }
        seed.deserialize(StringDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// The object of `kind` from the rest of its map.
fn typed<'de, D: Deserializer<'de>>(kind: ResourceKind, d: D) -> Result<Resource, D::Error> {
    use ResourceKind as K;
    Ok(match kind {
        K::Namespace => Resource::Namespace(Deserialize::deserialize(d)?),
        K::Pod => Resource::Pod(Box::new(Deserialize::deserialize(d)?)),
        K::ServiceAccount => Resource::ServiceAccount(Deserialize::deserialize(d)?),
        K::K8sNetworkPolicy => Resource::K8sNetworkPolicy(Deserialize::deserialize(d)?),
        K::NetworkPolicy
        | K::GlobalNetworkPolicy
        | K::StagedNetworkPolicy
        | K::StagedGlobalNetworkPolicy => {
            Resource::CalicoPolicy(kind, Deserialize::deserialize(d)?)
        }
        K::StagedKubernetesNetworkPolicy => Resource::StagedK8sPolicy(Deserialize::deserialize(d)?),
        K::Tier => Resource::Tier(Deserialize::deserialize(d)?),
        K::NetworkSet | K::GlobalNetworkSet => {
            Resource::NetworkSet(kind, Deserialize::deserialize(d)?)
        }
        K::HostEndpoint => Resource::HostEndpoint(Deserialize::deserialize(d)?),
        K::WorkloadEndpoint => Resource::WorkloadEndpoint(Deserialize::deserialize(d)?),
        K::Profile => Resource::Profile(Deserialize::deserialize(d)?),
    })
}

#[cfg(test)]
mod tests;
