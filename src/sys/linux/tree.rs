//! The process tree from `/proc/<pid>/stat`: who descends from whom, to
//! tell which service a GPU process belongs to (Ollama's runners are
//! children of the server, the server a child of the service process).

use std::collections::HashMap;

use super::identity::stat;

/// Every process's parent, read once from `/proc` (processes that exit
/// while it is read are left out).
pub fn parents() -> HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid).ok()??.ppid)))
        .collect()
}

/// The root that `pid` is or descends from, following the ppid chain in
/// `parents` (bounded: a corrupt map with a cycle cannot loop forever).
pub fn ancestor_in<'a, T>(
    pid: u32,
    roots: &'a HashMap<u32, T>,
    parents: &HashMap<u32, u32>,
) -> Option<&'a T> {
    let mut p = pid;
    for _ in 0..1024 {
        if let Some(t) = roots.get(&p) {
            return Some(t);
        }
        match parents.get(&p) {
            Some(&up) if up != 0 && up != p => p = up,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grandchild_belongs_to_its_root_and_a_stranger_to_none() {
        let parents = HashMap::from([(30, 20), (20, 10), (10, 1), (40, 1), (7, 8), (8, 7)]);
        let roots = HashMap::from([(10, "llm")]);
        assert_eq!(ancestor_in(30, &roots, &parents), Some(&"llm"));
        assert_eq!(ancestor_in(10, &roots, &parents), Some(&"llm"));
        assert_eq!(ancestor_in(40, &roots, &parents), None);
        assert_eq!(ancestor_in(7, &roots, &parents), None, "cycle ends");
    }

    #[test]
    fn we_descend_from_our_parent_in_the_real_proc() {
        let me = std::process::id();
        let parent = stat(me).expect("proc").expect("exists").ppid;
        let roots = HashMap::from([(parent, "p")]);
        assert_eq!(ancestor_in(me, &roots, &parents()), Some(&"p"));
    }
}
