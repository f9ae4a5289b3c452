//! The action graph on petgraph: ordering, the critical path, and DOT / Mermaid output.

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::action::Action;
use crate::plan::CriticalPath;

/// The plan's actions as a petgraph graph; an edge `a → b` means `a` finishes before `b` starts.
pub fn to_graph(actions: &[Action]) -> DiGraph<usize, ()> {
    let mut g = DiGraph::with_capacity(actions.len(), actions.len() * 2);
    let nodes: Vec<NodeIndex> = actions.iter().map(|a| g.add_node(a.id)).collect();
    for a in actions {
        for &d in &a.depends_on {
            g.add_edge(nodes[d], nodes[a.id], ());
        }
    }
    g
}

/// The longest chain of dependent actions by estimated duration.
pub fn critical_path(actions: &[Action]) -> CriticalPath {
    let g = to_graph(actions);
    let Ok(order) = toposort(&g, None) else {
        // The planner only adds edges to earlier actions, so a cycle is a bug; report no path.
        return CriticalPath::default();
    };
    let mut finish = vec![0u64; actions.len()];
    let mut prev: Vec<Option<usize>> = vec![None; actions.len()];
    for n in order {
        let a = &actions[g[n]];
        let (start, from) = a
            .depends_on
            .iter()
            .map(|&d| (finish[d], Some(d)))
            .max_by_key(|(f, d)| (*f, std::cmp::Reverse(*d)))
            .unwrap_or((0, None));
        finish[a.id] = start + a.estimate_secs;
        prev[a.id] = from;
    }
    let Some((end, &total)) = finish
        .iter()
        .enumerate()
        .max_by_key(|(i, f)| (**f, std::cmp::Reverse(*i)))
    else {
        return CriticalPath::default();
    };
    let mut path = vec![end];
    while let Some(p) = prev[*path.last().expect("path is not empty")] {
        path.push(p);
    }
    path.reverse();
    CriticalPath {
        total_secs: total,
        actions: path,
    }
}

fn label(a: &Action) -> String {
    format!("{}: {}", a.recipe, a.action).replace('"', "'")
}

/// Graphviz DOT, one cluster per recipe; critical-path edges are bold.
pub fn to_dot(actions: &[Action], critical: &CriticalPath) -> String {
    let on_path = |a: usize, b: usize| critical.actions.windows(2).any(|w| w[0] == a && w[1] == b);
    let mut out = String::from(
        "digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    let mut recipes: Vec<&str> = actions.iter().map(|a| a.recipe.as_str()).collect();
    recipes.dedup();
    for (ci, r) in recipes.iter().enumerate() {
        out.push_str(&format!("  subgraph cluster_{ci} {{\n    label=\"{r}\";\n"));
        for a in actions.iter().filter(|a| a.recipe == *r) {
            out.push_str(&format!(
                "    a{} [label=\"{}\"];\n",
                a.id,
                label(a).replacen(&format!("{r}: "), "", 1)
            ));
        }
        out.push_str("  }\n");
    }
    for a in actions {
        for &d in &a.depends_on {
            let style = if on_path(d, a.id) {
                " [style=bold, color=red]"
            } else {
                ""
            };
            out.push_str(&format!("  a{d} -> a{}{style};\n", a.id));
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart, one subgraph per recipe.
pub fn to_mermaid(actions: &[Action]) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut recipes: Vec<&str> = actions.iter().map(|a| a.recipe.as_str()).collect();
    recipes.dedup();
    for r in recipes {
        out.push_str(&format!("  subgraph {r}\n"));
        for a in actions.iter().filter(|a| a.recipe == r) {
            out.push_str(&format!(
                "    a{}[\"{}\"]\n",
                a.id,
                a.action.to_string().replace('"', "'")
            ));
        }
        out.push_str("  end\n");
    }
    for a in actions {
        for &d in &a.depends_on {
            out.push_str(&format!("  a{d} --> a{}\n", a.id));
        }
    }
    out
}
