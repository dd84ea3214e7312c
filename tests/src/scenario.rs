//! The setup every `palisade run` end-to-end test shares: pods in a [`Cluster`], a store
//! directory with their inventory, config files, and the daemon started in the node namespace.
//!
//! Contract: [`Scenario::new`] builds the cluster and writes `inventory.yaml` — one Pod per
//! [`PodSpec`], labelled `pod: <name>` plus the given extra labels, on node `node`, with the
//! `palisade.io/interface` annotation and `status.podIP(s)` — into a fresh [`TempDir`] store.
//! [`Scenario::start`] runs `palisade run` on that store (and config, if any) and waits for
//! `ready`. Every directory is removed on drop, every namespace by the cluster's guards.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use crate::{
    cluster::{Cluster, PodSpec},
    daemon::Daemon,
    netns::{HarnessError, VethOptions},
};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory `palisade-e2e-<tag>-<pid>-<n>` under the temp dir; removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates the directory (empty).
    pub fn new(tag: &str) -> Result<Self, HarnessError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("palisade-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
            what: "creating a temp dir",
            source,
        })?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, HarnessError> {
        let path = self.0.join(name);
        std::fs::write(&path, text).map_err(|source| HarnessError::Io {
            what: "writing a temp file",
            source,
        })?;
        Ok(path)
    }

    /// Removes `name` inside the directory.
    pub fn remove(&self, name: &str) -> Result<(), HarnessError> {
        std::fs::remove_file(self.0.join(name)).map_err(|source| HarnessError::Io {
            what: "removing a temp file",
            source,
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Pod manifests for `pods` on `node`, each labelled `pod: <name>`, plus, for every
/// `(pod name, labels)` in `extra_labels`, `labels` (the body of a YAML flow map, such as
/// `quarantine: 'true'`) on the pods of that name.
pub fn inventory(node: &str, pods: &[PodSpec], extra_labels: &[(&str, &str)]) -> String {
    let mut y = String::new();
    for p in pods {
        let extra: String = extra_labels
            .iter()
            .filter(|(pod, _)| *pod == p.name)
            .map(|(_, labels)| format!(", {labels}"))
            .collect();
        let _ = write!(
            y,
            "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels: {{pod: {name}{extra}}}
  annotations: {{palisade.io/interface: {hif}}}
spec: {{nodeName: {node}, containers: [{{name: c, image: i}}]}}
status:
  phase: Running
  podIP: \"{ip}\"
  podIPs: [{{ip: \"{ip}\"}}]
---
",
            name = p.name,
            ns = p.namespace,
            hif = p.host_if,
            ip = p.ip,
        );
    }
    y
}

/// Pods wired to a node namespace, their store, and how to start `palisade run` there.
#[derive(Debug)]
pub struct Scenario {
    pub cluster: Cluster,
    /// The store directory (`inventory.yaml` written by [`Scenario::new`]).
    pub store: TempDir,
    /// Config files ([`Scenario::config`]).
    pub conf: TempDir,
    binary: PathBuf,
    node: String,
}

impl Scenario {
    /// One-queue veths; see the module contract.
    pub fn new(binary: &str, node: &str, pods: Vec<PodSpec>) -> Result<Self, HarnessError> {
        Self::with_veths(
            binary,
            node,
            pods,
            VethOptions {
                queues: Some(1),
                channels: None,
            },
        )
    }

    /// Veths with `veth`'s queues; see the module contract.
    pub fn with_veths(
        binary: &str,
        node: &str,
        pods: Vec<PodSpec>,
        veth: VethOptions,
    ) -> Result<Self, HarnessError> {
        let tag = format!("{node}-store");
        let store = TempDir::new(&tag)?;
        store.write("inventory.yaml", &inventory(node, &pods, &[]))?;
        Ok(Self {
            cluster: Cluster::with_veths(pods, veth)?,
            store,
            conf: TempDir::new(&format!("{node}-conf"))?,
            binary: PathBuf::from(binary),
            node: node.into(),
        })
    }

    /// The node name the inventory uses.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The pods' specs, in order.
    pub fn specs(&self) -> Vec<PodSpec> {
        self.cluster.pods.iter().map(|(s, _)| s.clone()).collect()
    }

    /// Rewrites `inventory.yaml` with extra labels on some pods (see [`inventory`]).
    pub fn relabel(&self, extra_labels: &[(&str, &str)]) -> Result<(), HarnessError> {
        let text = inventory(&self.node, &self.specs(), extra_labels);
        self.store.write("inventory.yaml", &text).map(|_| ())
    }

    /// Writes a config file `name` and returns its path.
    pub fn config(&self, name: &str, text: &str) -> Result<PathBuf, HarnessError> {
        self.conf.write(name, text)
    }

    /// Starts `palisade run` (with `config`, if any) and waits up to a minute for `ready`.
    pub fn start(&self, config: Option<&Path>) -> Result<Daemon, HarnessError> {
        Daemon::start(
            &self.cluster.node,
            &self.binary,
            self.store.path(),
            &self.node,
            config,
            Duration::from_secs(60),
        )
    }
}
