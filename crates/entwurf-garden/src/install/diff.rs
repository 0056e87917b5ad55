//! A unified-style line diff for `--dry-run`: common head and tail trimmed, the middle aligned
//! by longest common subsequence (when small enough), hunks with three lines of context.

use std::path::Path;

const CONTEXT: usize = 3;
/// Above this many lines on either side of the trimmed middle, it is shown as one replaced block.
const LCS_LIMIT: usize = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

fn align<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Op, &'a str)> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops: Vec<(Op, &str)> = a[..head].iter().map(|l| (Op::Keep, *l)).collect();
    if am.len() <= LCS_LIMIT && bm.len() <= LCS_LIMIT {
        let (n, m) = (am.len(), bm.len());
        let mut t = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                t[i * (m + 1) + j] = if am[i] == bm[j] {
                    t[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    t[(i + 1) * (m + 1) + j].max(t[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push((Op::Keep, am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]) {
                ops.push((Op::Del, am[i]));
                i += 1;
            } else {
                ops.push((Op::Add, bm[j]));
                j += 1;
            }
        }
    } else {
        ops.extend(am.iter().map(|l| (Op::Del, *l)));
        ops.extend(bm.iter().map(|l| (Op::Add, *l)));
    }
    ops.extend(a[a.len() - tail..].iter().map(|l| (Op::Keep, *l)));
    ops
}

/// The diff of one file. `None` = the file is absent (before) or removed (after).
pub fn render_diff(path: &Path, before: Option<&str>, after: Option<&str>) -> String {
    let shown = path.display();
    let mut out = String::new();
    match before {
        Some(_) => out.push_str(&format!("--- {shown}\n")),
        None => out.push_str(&format!("--- {shown} (does not exist)\n")),
    }
    match after {
        Some(_) => out.push_str(&format!("+++ {shown}\n")),
        None => out.push_str(&format!("+++ {shown} (removed)\n")),
    }
    let a: Vec<&str> = before.map(|t| t.lines().collect()).unwrap_or_default();
    let b: Vec<&str> = after.map(|t| t.lines().collect()).unwrap_or_default();
    let ops = align(&a, &b);
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| *op != Op::Keep)
        .map(|(i, _)| i)
        .collect();
    if changed.is_empty() {
        if before.map(|t| t.ends_with('\n')) != after.map(|t| t.ends_with('\n')) {
            out.push_str("(only the final newline changes)\n");
        }
        return out;
    }
    // Group changed positions into hunks whose contexts touch.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let lo = i.saturating_sub(CONTEXT);
        let hi = (i + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some(last) if lo <= last.1 => last.1 = hi,
            _ => hunks.push((lo, hi)),
        }
    }
    for (lo, hi) in hunks {
        let old_start = ops[..lo].iter().filter(|(op, _)| *op != Op::Add).count() + 1;
        let new_start = ops[..lo].iter().filter(|(op, _)| *op != Op::Del).count() + 1;
        out.push_str(&format!("@@ -{old_start} +{new_start} @@\n"));
        for (op, line) in &ops[lo..hi] {
            let mark = match op {
                Op::Keep => ' ',
                Op::Del => '-',
                Op::Add => '+',
            };
            out.push(mark);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_show_only_what_changes() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let after = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
        let d = render_diff(Path::new("/x"), Some(before), Some(after));
        assert_eq!(
            d,
            "--- /x\n+++ /x\n@@ -1 +1 @@\n a\n-b\n+B\n c\n d\n e\n@@ -8 +8 @@\n h\n i\n j\n+k\n"
        );
    }

    #[test]
    fn creation_and_removal() {
        let d = render_diff(Path::new("/n"), None, Some("x\n"));
        assert_eq!(d, "--- /n (does not exist)\n+++ /n\n@@ -1 +1 @@\n+x\n");
        let d = render_diff(Path::new("/n"), Some("x\n"), None);
        assert_eq!(d, "--- /n\n+++ /n (removed)\n@@ -1 +1 @@\n-x\n");
    }
}
