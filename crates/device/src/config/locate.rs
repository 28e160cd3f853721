//! Finding where in a TOML document a problem is: byte offsets to line and column, dotted key
//! paths to spans, and spans back to key paths.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a path as `upstream.url` / `inputs[1].baud`.
pub fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Parses `inputs[1].baud` back into segments.
pub fn parse(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            out.push(Seg::Key(rest[..open].to_owned()));
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(i) = stripped[..close].parse() {
                    out.push(Seg::Index(i));
                }
                rest = &stripped[close + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_owned()));
        }
    }
    out
}

/// 1-based line and column of a byte offset (columns count characters).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The span of the key (or, for array elements, the element) a path names; the deepest
/// existing ancestor's span when the path goes further than the document.
pub fn span_of(root: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
    let mut table = root;
    let mut value: Option<&DeValue<'_>> = None;
    let mut best = None;
    for seg in path {
        match (seg, value) {
            (Seg::Key(k), None) | (Seg::Key(k), Some(DeValue::Table(_))) => {
                if let Some(DeValue::Table(t)) = value {
                    table = t;
                }
                let Some((key, v)) = table.iter().find(|(key, _)| key.get_ref().as_ref() == k)
                else {
                    return best;
                };
                best = Some(key.span());
                value = Some(v.get_ref());
            }
            (Seg::Index(i), Some(DeValue::Array(items))) => {
                let Some(item) = items.get(*i) else {
                    return best;
                };
                best = Some(item.span());
                value = Some(item.get_ref());
            }
            _ => return best,
        }
    }
    best
}

/// The key path of the last key that starts at or before `offset`: for an offset inside a
/// value, its key; inside a key, that key.
pub fn path_at(root: &DeTable<'_>, offset: usize) -> Vec<Seg> {
    all_keys(root)
        .into_iter()
        .filter(|(start, _)| *start <= offset)
        .max_by_key(|(start, path)| (*start, path.len()))
        .map(|(_, path)| path)
        .unwrap_or_default()
}

/// Every key (and array element) of the document with where it starts.
pub fn all_keys(root: &DeTable<'_>) -> Vec<(usize, Vec<Seg>)> {
    fn walk_table(t: &DeTable<'_>, path: &mut Vec<Seg>, out: &mut Vec<(usize, Vec<Seg>)>) {
        for (k, v) in t.iter() {
            path.push(Seg::Key(k.get_ref().to_string()));
            out.push((k.span().start, path.clone()));
            walk_value(v.get_ref(), path, out);
            path.pop();
        }
    }
    fn walk_value(v: &DeValue<'_>, path: &mut Vec<Seg>, out: &mut Vec<(usize, Vec<Seg>)>) {
        match v {
            DeValue::Table(t) => walk_table(t, path, out),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if !item.span().is_empty() {
                        out.push((item.span().start, path.clone()));
                    }
                    walk_value(item.get_ref(), path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut keys = Vec::new();
    walk_table(root, &mut Vec::new(), &mut keys);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_and_parse() {
        let cases = [
            "upstream.url",
            "inputs[1].baud",
            "credentials.signing_keys[0].public_key",
        ];
        for c in cases {
            assert_eq!(render(&parse(c)), c);
        }
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
    }

    #[test]
    fn spans_resolve_both_ways() {
        let text = "[device]\nid = \"g1\"\n\n[[inputs]]\nname = \"a\"\n\n[[inputs]]\nname = \"b\"\nbaud = 7\n";
        let doc = DeTable::parse(text).unwrap();
        let span = span_of(doc.get_ref(), &parse("inputs[1].baud")).unwrap();
        assert_eq!(line_col(text, span.start), (9, 1));
        assert_eq!(
            render(&path_at(doc.get_ref(), span.start)),
            "inputs[1].baud"
        );
        let span = span_of(doc.get_ref(), &parse("device.id")).unwrap();
        assert_eq!(line_col(text, span.start), (2, 1));
        // A path deeper than the document falls back to the deepest existing part.
        let span = span_of(doc.get_ref(), &parse("device.missing")).unwrap();
        assert_eq!(line_col(text, span.start), (1, 2));
    }
}
