//! Cursor paging shared by the list routes: the cursor is the last id of the previous page
//! (ids are UUIDv7, so they sort by creation), and a page is fetched one row long to know
//! whether another follows.

use sbx_core::ids::JobId;

use crate::error::ApiError;

/// The id in a `cursor` query value.
pub fn cursor(given: Option<&str>) -> Result<Option<JobId>, ApiError> {
    Ok(uuid_cursor(given)?.map(JobId))
}

/// The id in a `cursor` query value, of any kind of object.
pub fn uuid_cursor(given: Option<&str>) -> Result<Option<uuid::Uuid>, ApiError> {
    given
        .map(|c| {
            uuid::Uuid::parse_str(c)
                .ok()
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this API gave".into()))
        })
        .transpose()
}

/// The page size asked for, `default` when none, checked against 1..=`max`.
pub fn limit(asked: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = asked.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be from 1 to {max}"
        )));
    }
    Ok(limit)
}

/// `rows` (fetched with `limit + 1`) as a page of at most `limit` views, with the cursor of
/// the next page when there is one.
pub fn page<R, V, I: std::fmt::Display>(
    rows: Vec<R>,
    limit: i64,
    view: impl FnMut(R) -> V,
    id: impl Fn(&V) -> I,
) -> (Vec<V>, Option<String>) {
    let more = rows.len() as i64 > limit;
    let data: Vec<V> = rows.into_iter().take(limit as usize).map(view).collect();
    let next = if more {
        data.last().map(|v| id(v).to_string())
    } else {
        None
    };
    (data, next)
}
