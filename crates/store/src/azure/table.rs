//! The stream's partition of the table: conditional insert, replace, and range queries that
//! follow the service's continuation headers.

use azure_data_tables::prelude::{Filter, Top};
use futures::stream::StreamExt;
use serde_json::{Map, Value};

use super::entity::{parse_row, row_entity};
use super::errors::{status_of, store_error};
use super::AzureArchive;
use crate::rules::check_key;
use crate::{ErrorKind, InsertOutcome, SegmentRow, StoreError, StoreResult};

// Keeps a single page request well under the service's 1,000-row page limit.
pub(super) const MAX_TOP: usize = 1000;

impl AzureArchive {
    pub(super) async fn query(
        &self,
        operation: &str,
        filter: String,
        limit: Option<usize>,
    ) -> StoreResult<Vec<SegmentRow>> {
        let mut query = self.table.query().filter(Filter::new(filter));
        if let Some(limit) = limit {
            query = query.top(Top::new(limit.min(MAX_TOP) as u32));
        }
        // The pageable follows the NextPartitionKey/NextRowKey continuation headers.
        let mut pages = query.into_stream::<Map<String, Value>>();
        let mut rows = Vec::new();
        loop {
            let page = match self.within(async { pages.next().await.transpose() }).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                // A table not created yet (an account the job never ran on) holds no rows.
                Err(e) if matches!(status_of(&e), Some((404, Some("TableNotFound")))) => break,
                Err(e) => return Err(store_error(operation, &e)),
            };
            for entity in &page.entities {
                // A row we cannot read names no file: skipping it only leaves that row out,
                // while stopping would leave every recording unarchived until someone acts.
                match parse_row(entity) {
                    Ok(row) => rows.push(row),
                    Err(cause) => tracing::warn!(operation, "skipping a table row: {cause}"),
                }
            }
            if limit.is_some_and(|limit| rows.len() >= limit) {
                break;
            }
        }
        if let Some(limit) = limit {
            rows.truncate(limit);
        }
        Ok(rows)
    }

    pub(super) async fn row(&self, row_key: &str) -> StoreResult<Option<SegmentRow>> {
        let filter = format!(
            "PartitionKey eq {} and RowKey eq {}",
            odata_string(&self.partition),
            odata_string(row_key)
        );
        let operation = format!("read row {row_key} of {}", self.partition_label());
        Ok(self
            .query(&operation, filter, None)
            .await?
            .into_iter()
            .next())
    }

    /// The row as a table entity, once its RowKey is known to be acceptable.
    pub(super) fn checked_entity(&self, row: &SegmentRow, operation: &str) -> StoreResult<Value> {
        let invalid = |cause: String| StoreError::new(ErrorKind::Invalid, operation, cause);
        check_key("RowKey", &row.row_key).map_err(invalid)?;
        row_entity(&self.partition, row).map_err(invalid)
    }

    pub(super) async fn replace(&self, row: &SegmentRow) -> StoreResult<()> {
        let operation = format!("replace row {} in {}", row.row_key, self.partition_label());
        let entity = self.checked_entity(row, &operation)?;
        let put = self
            .table
            .partition_key_client(self.partition.clone())
            .entity_client(row.row_key.clone())
            .insert_or_replace(entity)
            .map_err(|e| store_error(&operation, &e))?;
        self.within(put.into_future())
            .await
            .map(|_| ())
            .map_err(|e| store_error(&operation, &e))
    }

    pub(super) async fn insert(&self, row: &SegmentRow) -> StoreResult<InsertOutcome> {
        let operation = format!("insert row {} into {}", row.row_key, self.partition_label());
        let entity = self.checked_entity(row, &operation)?;
        let insert = self
            .table
            .insert::<_, Value>(entity)
            .map_err(|e| store_error(&operation, &e))?;
        match self.within(insert.into_future()).await {
            Ok(_) => Ok(InsertOutcome::Inserted),
            Err(e) if matches!(status_of(&e), Some((409, Some("EntityAlreadyExists")))) => {
                match self.row(&row.row_key).await? {
                    Some(existing) => Ok(InsertOutcome::AlreadyExists(Box::new(existing))),
                    None => Err(StoreError::new(
                        ErrorKind::Conflict,
                        operation,
                        "the insert found a row that then vanished",
                    )
                    .with_transient(true)),
                }
            }
            Err(e) => Err(store_error(&operation, &e)),
        }
    }

    pub(super) async fn delete(&self, row_key: &str) -> StoreResult<()> {
        let operation = format!("delete row {row_key} from {}", self.partition_label());
        check_key("RowKey", row_key)
            .map_err(|cause| StoreError::new(ErrorKind::Invalid, &operation, cause))?;
        // No If-Match condition: the row goes whatever its version (`If-Match: *`).
        let delete = self
            .table
            .partition_key_client(self.partition.clone())
            .entity_client(row_key.to_owned())
            .delete();
        match self.within(delete.into_future()).await {
            Ok(_) => Ok(()),
            // Already gone: a retry whose first attempt did delete it, or never written.
            Err(e) if matches!(status_of(&e), Some((404, _))) => Ok(()),
            Err(e) => Err(store_error(&operation, &e)),
        }
    }

    pub(super) async fn range(&self, from: &str, to: &str) -> StoreResult<Vec<SegmentRow>> {
        let operation = format!("read rows {from}..={to} of {}", self.partition_label());
        for bound in [from, to] {
            check_key("RowKey bound", bound)
                .map_err(|cause| StoreError::new(ErrorKind::Invalid, &operation, cause))?;
        }
        let filter = format!(
            "PartitionKey eq {} and RowKey ge {} and RowKey le {}",
            odata_string(&self.partition),
            odata_string(from),
            odata_string(to)
        );
        self.query(&operation, filter, None).await
    }

    pub(super) async fn first(&self, limit: usize) -> StoreResult<Vec<SegmentRow>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let operation = format!("read the first {limit} rows of {}", self.partition_label());
        let filter = format!("PartitionKey eq {}", odata_string(&self.partition));
        self.query(&operation, filter, Some(limit)).await
    }
}

/// Quotes a string for an OData filter.
pub(super) fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_quoted() {
        assert_eq!(odata_string("o'brien"), "'o''brien'");
        assert_eq!(odata_string("''"), "''''''");
    }
}
