//! Cursor pagination for list endpoints: `?limit=&cursor=` in, `next_cursor` out. Cursors are
//! opaque to clients (URL-safe base64 of the last id seen), so the scheme can change later.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::PageRequest;
use crate::error::{ApiError, ErrorCode};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidLimit,
                "limit must be from 1 to 200",
            ));
        }
        // An empty `cursor=` is the first page, as front ends often send it.
        let after = self
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()?;
        Ok(PageRequest { after, limit })
    }
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(
            ErrorCode::InvalidCursor,
            "the cursor is not one this server issued",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    text.strip_prefix("id:")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(bad)
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to fetch the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with [`PageRequest::fetch_limit`] (one extra row).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        page: PageRequest,
        id: impl Fn(&R) -> i64,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > page.limit;
        rows.truncate(page.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(id(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

impl<T> Page<T> {
    /// [`Page::from_rows`] for views that can fail (a stored value that no longer parses).
    pub fn try_from_rows<R, E>(
        rows: Vec<R>,
        page: PageRequest,
        id: impl Fn(&R) -> i64,
        view: impl Fn(R) -> Result<T, E>,
    ) -> Result<Self, E> {
        let page = Page::from_rows(rows, page, id, view);
        Ok(Page {
            items: page.items.into_iter().collect::<Result<_, E>>()?,
            next_cursor: page.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        for bad in [
            "",
            "!!",
            "aWQ6LTE",
            "eHl6",
            &URL_SAFE_NO_PAD.encode("id:abc"),
        ] {
            assert_eq!(
                decode_cursor(bad).unwrap_err().code(),
                ErrorCode::InvalidCursor,
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert!(
            PageParams {
                limit: Some(0),
                cursor: None
            }
            .parse()
            .is_err()
        );
        assert!(
            PageParams {
                limit: Some(201),
                cursor: None
            }
            .parse()
            .is_err()
        );
        assert_eq!(PageParams::default().parse().unwrap().limit, 50);
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let page = PageRequest {
            after: None,
            limit: 2,
        };
        let full: Page<i64> = Page::from_rows(vec![1, 2, 3], page, |r| *r, |r| r);
        assert_eq!(full.items, [1, 2]);
        assert_eq!(
            decode_cursor(full.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        let last: Page<i64> = Page::from_rows(vec![1], page, |r| *r, |r| r);
        assert!(last.next_cursor.is_none());
    }
}
