//! `?page=&itemsPerPage=` as MediaMTX parses them.

use std::collections::HashMap;

use crate::json::List;

const DEFAULT_ITEMS_PER_PAGE: usize = 100;

/// Parses an unsigned decimal below 2^31, like Go's `strconv.ParseUint(s, 10, 31)`.
fn parse_param(name: &str, s: &str) -> Result<usize, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid {name}: '{s}' is not an unsigned integer"));
    }
    match s.parse::<u64>() {
        Ok(v) if v < (1 << 31) => Ok(v as usize),
        _ => Err(format!("invalid {name}: '{s}' is out of range")),
    }
}

/// Cuts one page out of `items`. Empty parameters take their defaults (page 0, 100 items).
pub(crate) fn paginate<T>(
    items: Vec<T>,
    query: &HashMap<String, String>,
) -> Result<List<T>, String> {
    let per_page = match query.get("itemsPerPage").map(String::as_str) {
        None | Some("") => DEFAULT_ITEMS_PER_PAGE,
        Some(s) => match parse_param("itemsPerPage", s)? {
            0 => return Err("invalid items per page".into()),
            n => n,
        },
    };
    let page = match query.get("page").map(String::as_str) {
        None | Some("") => 0,
        Some(s) => parse_param("page", s)?,
    };
    let item_count = items.len();
    let page_count = item_count.div_ceil(per_page);
    let start = page.saturating_mul(per_page).min(item_count);
    let end = page
        .saturating_add(1)
        .saturating_mul(per_page)
        .min(item_count);
    let items = items.into_iter().skip(start).take(end - start).collect();
    Ok(List {
        item_count,
        page_count,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let l = paginate((0..250).collect(), &q(&[])).unwrap();
        assert_eq!((l.item_count, l.page_count, l.items.len()), (250, 3, 100));
        let l = paginate(Vec::<u8>::new(), &q(&[])).unwrap();
        assert_eq!((l.item_count, l.page_count, l.items.len()), (0, 0, 0));
    }

    #[test]
    fn pages() {
        let l = paginate(
            (0..5).collect(),
            &q(&[("itemsPerPage", "2"), ("page", "2")]),
        )
        .unwrap();
        assert_eq!(l.items, vec![4]);
        assert_eq!(l.page_count, 3);
        let l = paginate(
            (0..5).collect(),
            &q(&[("itemsPerPage", "2"), ("page", "9")]),
        )
        .unwrap();
        assert!(l.items.is_empty());
        let l = paginate((0..5).collect(), &q(&[("page", "2147483647")])).unwrap();
        assert!(l.items.is_empty());
    }

    #[test]
    fn invalid() {
        for (k, v) in [
            ("itemsPerPage", "0"),
            ("itemsPerPage", "-1"),
            ("itemsPerPage", "abc"),
            ("page", "-1"),
            ("page", "+1"),
            ("page", "2147483648"),
            ("page", "1.5"),
        ] {
            assert!(paginate(vec![1], &q(&[(k, v)])).is_err(), "{k}={v}");
        }
    }
}
