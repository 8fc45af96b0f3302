//! Walking the group tree from the root: every object is visited once (an address seen
//! before — a hard-link cycle or alias — is reported and not entered again), soft and
//! external links are never followed, and depth is bounded by `limits.max_depth`.

use std::collections::BTreeSet;

use super::dataset;
use super::file::H5;
use super::group;
use super::io::{R, limit};

/// Most bytes of path names kept for all objects together.
const MAX_PATH_BYTES: usize = 64 << 20;
use super::messages::link::LinkTarget;
use super::object_header::{self, ObjectHeader};

/// What kind of object a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A group.
    Group,
    /// A dataset.
    Dataset,
    /// Anything else (committed datatype…).
    Other,
}

/// One object reached from the root.
#[derive(Debug, Clone)]
pub struct Node {
    /// Link names from the root (`[]` is the root group).
    pub path: Vec<String>,
    /// Object header address.
    pub addr: u64,
    /// Kind of object.
    pub kind: NodeKind,
    pub(crate) header: ObjectHeader,
}

/// Visits every object reachable through hard links, pre-order with names sorted (the
/// order h5py's `visititems` uses).
pub(crate) fn walk(h5: &mut H5<'_>) -> R<Vec<Node>> {
    let max_depth = h5.limits.max_depth;
    let root_hdr = object_header::read(h5, h5.root)?;
    let mut visited = BTreeSet::new();
    visited.insert(h5.root);
    let mut out = Vec::new();
    let mut path_bytes = 0usize;
    let mut stack = vec![Node {
        path: Vec::new(),
        addr: h5.root,
        kind: NodeKind::Group,
        header: root_hdr,
    }];
    while let Some(node) = stack.pop() {
        if node.kind != NodeKind::Group {
            out.push(node);
            continue;
        }
        let links = group::links(h5, &node.header)?;
        let mut children = Vec::new();
        for l in links {
            let name = String::from_utf8_lossy(&l.name).into_owned();
            let mut path = node.path.clone();
            path.push(name);
            let shown = path.join("/");
            path_bytes = path_bytes.saturating_add(shown.len() + 24 * path.len());
            if path_bytes > MAX_PATH_BYTES {
                return Err(limit(format!(
                    "object paths exceed {MAX_PATH_BYTES} bytes (too many or too deeply nested objects)"
                )));
            }
            if path.len() as u64 > max_depth {
                return Err(limit(format!(
                    "limits.max_depth ({max_depth}) exceeded at /{shown}"
                )));
            }
            match l.target {
                LinkTarget::Hard(addr) => {
                    if !visited.insert(addr) {
                        h5.warn(format!(
                            "/{shown} links to an object already visited (hard-link alias or cycle); not entered again"
                        ));
                        continue;
                    }
                    let header = object_header::read(h5, addr)?;
                    let kind = if dataset::is_dataset(&header) {
                        NodeKind::Dataset
                    } else if group::is_group(&header) || is_empty_group(&header) {
                        NodeKind::Group
                    } else {
                        NodeKind::Other
                    };
                    children.push(Node {
                        path,
                        addr,
                        kind,
                        header,
                    });
                }
                LinkTarget::Soft(target) => {
                    h5.warn(format!("/{shown} is a soft link to {target}; not followed"))
                }
                LinkTarget::External => h5.warn(format!(
                    "/{shown} is an external link to another file; never followed"
                )),
                LinkTarget::Other(t) => h5.warn(format!(
                    "/{shown} is a user-defined link (type {t}); ignored"
                )),
            }
        }
        out.push(node);
        stack.extend(children.into_iter().rev());
    }
    Ok(out)
}

/// A new-style empty group has only a group info / link info message; an old-style empty
/// group always has a symbol table. Group info (type 10) alone marks a group.
fn is_empty_group(hdr: &ObjectHeader) -> bool {
    hdr.first(0x000A).is_some()
}
