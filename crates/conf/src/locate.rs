//! A light second pass over the YAML text that finds where block-mapping keys are.
//!
//! serde-saphyr reports a line and column for every error, but its messages for
//! type errors do not name the key ("invalid u32"), and validation happens after
//! parsing, when locations are gone. This index maps each key line to its key path
//! (`paths` / `cam` / `maxReaders`, with sequence items as indexes), so that errors
//! can name the key and validation errors can point at a line.
//!
//! It understands block mappings and block sequences (including the compact
//! `key:\n- item` form), quoted keys, comments and block scalars. Flow collections
//! (`{...}`, `[...]`) are treated as values: keys inside them are not indexed.

/// One element of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathElem {
    Key(String),
    Index(usize),
}

/// Formats a key path as `paths.cam.maxReaders` / `authInternalUsers[1].ips`.
pub(crate) fn format_path(path: &[PathElem]) -> String {
    let mut out = String::new();
    for elem in path {
        match elem {
            PathElem::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    out.push_str(k);
                } else {
                    out.push_str(&format!("{k:?}"));
                }
            }
            PathElem::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
pub(crate) struct KeyLine {
    pub path: Vec<PathElem>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters) of the key.
    pub column: usize,
}

#[derive(Debug)]
enum Frame {
    Key { indent: usize },
    Item { indent: usize, index: usize },
}

impl Frame {
    fn indent(&self) -> usize {
        match self {
            Frame::Key { indent } | Frame::Item { indent, .. } => *indent,
        }
    }
}

/// Parses `key:` at the start of `rest`; returns the key and the text after the colon.
fn parse_key(rest: &str) -> Option<(String, &str)> {
    let first = rest.chars().next()?;
    if first == '"' || first == '\'' {
        let mut key = String::new();
        let mut chars = rest.char_indices().skip(1);
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == first {
                if first == '\'' && rest[i + 1..].starts_with('\'') {
                    key.push('\'');
                    chars.next();
                    continue;
                }
                end = Some(i + 1);
                break;
            }
            if c == '\\' && first == '"' {
                if let Some((_, esc)) = chars.next() {
                    key.push(match esc {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                continue;
            }
            key.push(c);
        }
        let end = end?;
        let after = rest[end..].trim_start_matches(' ');
        let after = after.strip_prefix(':')?;
        if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
            return None;
        }
        return Some((key, after));
    }
    if matches!(
        first,
        '[' | '{' | '#' | '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`'
    ) {
        return None;
    }
    // A plain key ends at the first ": " or at a trailing ":".
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'#' && i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return None;
        }
        if bytes[i] == b':'
            && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t')
        {
            let key = rest[..i].trim_end();
            if key.is_empty() {
                return None;
            }
            return Some((key.to_string(), &rest[i + 1..]));
        }
        i += 1;
    }
    None
}

/// Indexes every block-mapping key of `text`.
pub(crate) fn index_keys(text: &str) -> Vec<KeyLine> {
    let mut out = Vec::new();
    let mut stack: Vec<(Frame, PathElem)> = Vec::new();
    // Lines more indented than this belong to a block scalar and are skipped.
    let mut block_scalar_indent: Option<usize> = None;

    for (line_idx, raw) in text.lines().enumerate() {
        let line_no = line_idx + 1;
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let trimmed = raw[indent..].trim_end();

        if let Some(bi) = block_scalar_indent {
            if trimmed.is_empty() || indent > bi {
                continue;
            }
            block_scalar_indent = None;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent == 0 && (trimmed.starts_with("---") || trimmed.starts_with("...")) {
            stack.clear();
            continue;
        }

        let mut col = indent; // 0-based byte offset in `raw`
        let mut rest = trimmed;

        // Sequence item markers ("- ", possibly nested: "- - x").
        while rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t") {
            let item_indent = col;
            let mut next_index = 0;
            while let Some((frame, _)) = stack.last() {
                let fi = frame.indent();
                let pop = match frame {
                    Frame::Item { .. } => fi >= item_indent,
                    Frame::Key { .. } => fi > item_indent,
                };
                if !pop {
                    break;
                }
                if let Some((Frame::Item { indent, index }, _)) = stack.pop() {
                    if indent == item_indent {
                        next_index = index + 1;
                    }
                }
            }
            stack.push((
                Frame::Item {
                    indent: item_indent,
                    index: next_index,
                },
                PathElem::Index(next_index),
            ));
            let after = &rest[1..];
            let spaces = after.len() - after.trim_start().len();
            col += 1 + spaces;
            rest = after.trim_start();
            if rest.is_empty() {
                break;
            }
        }
        if rest.is_empty() {
            continue;
        }

        let Some((key, after)) = parse_key(rest) else {
            continue;
        };
        let key_indent = col;
        while let Some((frame, _)) = stack.last() {
            if frame.indent() >= key_indent {
                stack.pop();
            } else {
                break;
            }
        }
        stack.push((Frame::Key { indent: key_indent }, PathElem::Key(key)));
        let column = raw[..key_indent].chars().count() + 1;
        out.push(KeyLine {
            path: stack.iter().map(|(_, e)| e.clone()).collect(),
            line: line_no,
            column,
        });

        let value = after.trim();
        let value = value
            .split_once(" #")
            .map(|(v, _)| v.trim_end())
            .unwrap_or(value);
        // Skip an optional anchor/tag before the block scalar indicator.
        let last_token = value.split_whitespace().last().unwrap_or("");
        if last_token.starts_with('|') || last_token.starts_with('>') {
            block_scalar_indent = Some(key_indent);
        }
    }
    out
}

/// Line and column of the key at `path`, if it is written in block style.
pub(crate) fn locate(index: &[KeyLine], path: &[PathElem]) -> Option<(usize, usize)> {
    index
        .iter()
        .find(|k| k.path == path)
        .map(|k| (k.line, k.column))
}

/// Line and column of the deepest indexed key that is a prefix of `path`
/// (used when the exact element, e.g. a list item, has no key of its own).
pub(crate) fn locate_nearest(index: &[KeyLine], path: &[PathElem]) -> Option<(usize, usize)> {
    (1..=path.len())
        .rev()
        .find_map(|n| locate(index, &path[..n]))
}

/// The key path that an error at `line`/`column` (1-based) is about.
pub(crate) fn key_path_at(index: &[KeyLine], line: usize, column: usize) -> Option<Vec<PathElem>> {
    // A key on the same line, before the error column.
    if let Some(k) = index.iter().rfind(|k| k.line == line && k.column <= column) {
        return Some(k.path.clone());
    }
    // Otherwise the value is on its own line(s): the owner is the nearest
    // previous key that is less indented than the error.
    index
        .iter()
        .rfind(|k| k.line < line && k.column < column)
        .map(|k| k.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> PathElem {
        PathElem::Key(s.to_string())
    }

    #[test]
    fn indexes_nested_keys_and_sequences() {
        let text = "\
logLevel: info # comment
authInternalUsers:
  - user: any
    pass:
    ips: ['127.0.0.1']
    permissions:
    - action: publish
      path:
  - user: admin
paths:
  cam:
    source: publisher
  '~^(a|b)$':
    maxReaders: 2
  \"q\": {}
text: |
  notakey: 1
after: 1
";
        let idx = index_keys(text);
        assert_eq!(locate(&idx, &[key("logLevel")]), Some((1, 1)));
        assert_eq!(
            locate(
                &idx,
                &[key("authInternalUsers"), PathElem::Index(0), key("ips")]
            ),
            Some((5, 5))
        );
        assert_eq!(
            locate(
                &idx,
                &[
                    key("authInternalUsers"),
                    PathElem::Index(0),
                    key("permissions"),
                    PathElem::Index(0),
                    key("path")
                ]
            ),
            Some((8, 7))
        );
        assert_eq!(
            locate(
                &idx,
                &[key("authInternalUsers"), PathElem::Index(1), key("user")]
            ),
            Some((9, 5))
        );
        assert_eq!(
            locate(&idx, &[key("paths"), key("cam"), key("source")]),
            Some((12, 5))
        );
        assert_eq!(
            locate(&idx, &[key("paths"), key("~^(a|b)$"), key("maxReaders")]),
            Some((14, 5))
        );
        assert_eq!(locate(&idx, &[key("paths"), key("q")]), Some((15, 3)));
        assert_eq!(locate(&idx, &[key("notakey")]), None);
        assert_eq!(locate(&idx, &[key("after")]), Some((18, 1)));
        assert_eq!(
            key_path_at(&idx, 14, 17).map(|p| format_path(&p)),
            Some("paths.\"~^(a|b)$\".maxReaders".to_string())
        );
        assert_eq!(
            format_path(&[key("a"), PathElem::Index(1), key("b")]),
            "a[1].b"
        );
    }

    #[test]
    fn value_on_following_line_belongs_to_previous_key() {
        let text = "a:\n  b:\n    - 1\n    - x\n";
        let idx = index_keys(text);
        assert_eq!(
            key_path_at(&idx, 4, 7).map(|p| format_path(&p)),
            Some("a.b".to_string())
        );
    }
}
