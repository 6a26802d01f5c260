//! Row → record conversions.

use sluice_store::{
    AccessKeyRecord, ActionTypeKey, ActionTypeRecord, DeclarationDoc, Error, PipelineRecord,
    PipelineSummary, Result, TransitionDirection, TransitionRecord,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

pub fn pipeline(r: &SqliteRow) -> Result<PipelineRecord> {
    let declaration: String = r.get(3);
    Ok(PipelineRecord {
        name: r.get(0),
        arn: r.get(1),
        version: r.get(2),
        declaration: DeclarationDoc::from_json(&declaration)?,
        created_ms: r.get(4),
        updated_ms: r.get(5),
    })
}

pub fn summary(r: &SqliteRow) -> PipelineSummary {
    PipelineSummary {
        name: r.get(0),
        version: r.get(1),
        created_ms: r.get(2),
        updated_ms: r.get(3),
        execution_mode: r.get(4),
        pipeline_type: r.get(5),
    }
}

pub fn transition(r: &SqliteRow) -> Result<TransitionRecord> {
    let direction: String = r.get(2);
    Ok(TransitionRecord {
        pipeline: r.get(0),
        stage: r.get(1),
        direction: TransitionDirection::parse(&direction)
            .ok_or_else(|| Error::Corrupt(format!("transition direction {direction}")))?,
        enabled: r.get(3),
        reason: r.get(4),
        changed_by: r.get(5),
        changed_ms: r.get(6),
    })
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

pub fn access_key(r: &SqliteRow) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: r.get(0),
        secret_access_key: sluice_model::Secret::new(r.get::<String, _>(1)),
        principal_arn: r.get(2),
        created_ms: r.get(3),
        status: r.get(4),
    }
}
