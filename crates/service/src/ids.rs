//! Identifiers, injected: the façade asks an `IdGenerator` for every id it mints.

/// Mints unique identifiers.
pub trait IdGenerator: Send + Sync {
    /// A random UUID (v4) string.
    fn uuid(&self) -> String;
}

/// UUIDs from the operating system's randomness; the binary's choice.
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn uuid(&self) -> String {
        let mut b = [0u8; 16];
        if getrandom::fill(&mut b).is_err() {
            // No randomness: fall back to the time, still unique within this process.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            b = t.to_le_bytes();
        }
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = sluice_model::hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// Adapts an `IdGenerator` to the engine's `Ids`.
pub(crate) struct EngineIds<'a>(pub &'a dyn IdGenerator);

impl sluice_engine::Ids for EngineIds<'_> {
    fn job_id(&mut self) -> String {
        self.0.uuid()
    }
    fn approval_token(&mut self) -> String {
        self.0.uuid()
    }
    fn action_execution_id(&mut self) -> String {
        self.0.uuid()
    }
    fn execution_id(&mut self) -> String {
        self.0.uuid()
    }
    fn rule_execution_id(&mut self) -> String {
        self.0.uuid()
    }
    fn artifact_id(&mut self) -> String {
        // Object keys are short in CodePipeline; seven characters of a UUID as AWS does.
        self.0
            .uuid()
            .chars()
            .filter(|c| *c != '-')
            .take(7)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = RandomIds.uuid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, RandomIds.uuid());
    }
}
