//! Row → record conversions.

use sluice_store::{
    ActionTypeKey, ActionTypeRecord, DeclarationDoc, Error, PipelineRecord, PipelineSummary,
    Result, TransitionDirection, TransitionRecord,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// A pipeline row with its declaration still text: it is parsed outside rusqlite's row
/// callback, so a corrupt declaration is reported as such.
pub struct PipelineRow {
    name: String,
    arn: String,
    version: i64,
    declaration: String,
    created_ms: i64,
    updated_ms: i64,
}

pub fn pipeline(r: &rusqlite::Row<'_>) -> rusqlite::Result<PipelineRow> {
    Ok(PipelineRow {
        name: r.get(0)?,
        arn: r.get(1)?,
        version: r.get(2)?,
        declaration: r.get(3)?,
        created_ms: r.get(4)?,
        updated_ms: r.get(5)?,
    })
}

impl PipelineRow {
    pub fn into_record(self) -> Result<PipelineRecord> {
        Ok(PipelineRecord {
            name: self.name,
            arn: self.arn,
            version: self.version,
            declaration: DeclarationDoc::from_json(&self.declaration)?,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        })
    }
}

pub fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<PipelineSummary> {
    Ok(PipelineSummary {
        name: r.get(0)?,
        version: r.get(1)?,
        created_ms: r.get(2)?,
        updated_ms: r.get(3)?,
        execution_mode: r.get(4)?,
        pipeline_type: r.get(5)?,
    })
}

pub fn transition(r: &rusqlite::Row<'_>) -> rusqlite::Result<(TransitionRecord, String)> {
    Ok((
        TransitionRecord {
            pipeline: r.get(0)?,
            stage: r.get(1)?,
            direction: TransitionDirection::Inbound,
            enabled: r.get(3)?,
            reason: r.get(4)?,
            changed_by: r.get(5)?,
            changed_ms: r.get(6)?,
        },
        r.get(2)?,
    ))
}

/// Sets the direction `transition` left as text.
pub fn with_direction(
    (mut record, direction): (TransitionRecord, String),
) -> Result<TransitionRecord> {
    record.direction = TransitionDirection::parse(&direction)
        .ok_or_else(|| Error::Corrupt(format!("transition direction {direction}")))?;
    Ok(record)
}

pub fn action_type(r: &SqliteRow) -> Result<ActionTypeRecord> {
    let definition: String = r.get(4);
    Ok(ActionTypeRecord {
        key: ActionTypeKey {
            category: r.get(0),
            owner: r.get(1),
            provider: r.get(2),
            version: r.get(3),
        },
        definition: sluice_store::ActionTypeDoc::from_json(&definition)?,
        created_ms: r.get(5),
    })
}
