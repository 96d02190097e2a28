//! Departments and categories: kinds, and the rules of their trees.

use std::collections::HashMap;
use std::hash::Hash;

named_enum! {
    pub enum DepartmentKind {
        /// A city-level bureau (委办局).
        Bureau,
        /// A district government (区).
        District,
        /// A street office or town (街道/乡镇).
        Street,
        /// A public utility that takes cases (water, power, gas).
        Utility,
        Other,
    }
}

/// Whether making `new_parent` the parent of `node` would close a loop: true when `new_parent` is
/// `node` itself or one of its descendants. `parents` maps every node to its current parent.
/// `Id` is the tree's id type (`DepartmentId`, `CategoryId`).
pub fn would_create_cycle<Id: Copy + Eq + Hash>(
    parents: &HashMap<Id, Option<Id>>,
    node: Id,
    new_parent: Id,
) -> bool {
    let mut current = Some(new_parent);
    let mut steps = 0;
    while let Some(id) = current {
        if id == node {
            return true;
        }
        steps += 1;
        if steps > parents.len() {
            return true; // the stored tree is already broken; refuse rather than loop
        }
        current = parents.get(&id).copied().flatten();
    }
    false
}

/// A node of a fetched tree.
#[derive(Debug, Clone)]
pub struct TreeNode<T> {
    pub item: T,
    pub children: Vec<TreeNode<T>>,
}

/// Arranges flat rows into a forest, keeping the input order among siblings. Rows whose parent
/// is missing become roots.
pub fn build_forest<T, Id: Copy + Eq + Hash>(
    rows: Vec<T>,
    id: impl Fn(&T) -> Id,
    parent: impl Fn(&T) -> Option<Id>,
) -> Vec<TreeNode<T>> {
    let ids: std::collections::HashSet<Id> = rows.iter().map(&id).collect();
    let mut children: HashMap<Option<Id>, Vec<T>> = HashMap::new();
    for row in rows {
        let key = parent(&row).filter(|p| ids.contains(p));
        children.entry(key).or_default().push(row);
    }
    fn attach<T, Id: Copy + Eq + Hash>(
        key: Option<Id>,
        children: &mut HashMap<Option<Id>, Vec<T>>,
        id: &impl Fn(&T) -> Id,
    ) -> Vec<TreeNode<T>> {
        let Some(rows) = children.remove(&key) else {
            return Vec::new();
        };
        rows.into_iter()
            .map(|row| {
                let own = id(&row);
                TreeNode {
                    children: attach(Some(own), children, id),
                    item: row,
                }
            })
            .collect()
    }
    attach(None, &mut children, &id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_detected() {
        // 1 ← 2 ← 3, and 4 alone
        let parents = HashMap::from([(1, None), (2, Some(1)), (3, Some(2)), (4, None)]);
        assert!(
            would_create_cycle(&parents, 1, 3),
            "a root under its grandchild"
        );
        assert!(would_create_cycle(&parents, 2, 2), "a node under itself");
        assert!(!would_create_cycle(&parents, 3, 1));
        assert!(!would_create_cycle(&parents, 1, 4));
    }

    #[test]
    fn forests_are_built_in_order() {
        let rows = vec![
            (1, None),
            (2, Some(1)),
            (3, Some(1)),
            (4, None),
            (5, Some(99)),
        ];
        let forest = build_forest(rows, |r| r.0, |r| r.1);
        let roots: Vec<i64> = forest.iter().map(|n| n.item.0).collect();
        assert_eq!(roots, [1, 4, 5]);
        let kids: Vec<i64> = forest[0].children.iter().map(|n| n.item.0).collect();
        assert_eq!(kids, [2, 3]);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in ["bureau", "district", "street", "utility", "other"] {
            assert_eq!(DepartmentKind::parse(kind).unwrap().as_str(), kind);
        }
        assert!(DepartmentKind::parse("ministry").is_none());
    }
}
