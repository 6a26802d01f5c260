//! Deployment configs: how many hosts must stay healthy while a deployment runs, which decides
//! how many run at once and how many must succeed.

/// How a config counts the hosts that must stay healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthyHostsKind {
    /// An absolute number of hosts.
    HostCount,
    /// A percentage of the deployment's hosts.
    FleetPercent,
    /// `CodeDeployDefault.OneAtATime`: one host at a time, all but one kept healthy. Only the
    /// built-in config has it; users cannot create it.
    MostConcurrency,
}

impl HealthyHostsKind {
    pub fn name(self) -> &'static str {
        match self {
            HealthyHostsKind::HostCount => "HOST_COUNT",
            HealthyHostsKind::FleetPercent => "FLEET_PERCENT",
            HealthyHostsKind::MostConcurrency => "MOST_CONCURRENCY",
        }
    }

    pub fn from_name(name: &str) -> Option<HealthyHostsKind> {
        match name {
            "HOST_COUNT" => Some(HealthyHostsKind::HostCount),
            "FLEET_PERCENT" => Some(HealthyHostsKind::FleetPercent),
            "MOST_CONCURRENCY" => Some(HealthyHostsKind::MostConcurrency),
            _ => None,
        }
    }
}

/// A config's `minimumHealthyHosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthyHosts {
    pub kind: HealthyHostsKind,
    pub value: u32,
}

impl HealthyHosts {
    /// How many of `hosts` must stay healthy (not in progress, not failed) while it runs.
    pub fn minimum(self, hosts: usize) -> usize {
        let hosts_u64 = hosts as u64;
        match self.kind {
            HealthyHostsKind::HostCount => self.value as usize,
            // A percentage rounds up: 40% of nine hosts keeps four healthy.
            HealthyHostsKind::FleetPercent => {
                (hosts_u64 * u64::from(self.value)).div_ceil(100) as usize
            }
            HealthyHostsKind::MostConcurrency => hosts.saturating_sub(1),
        }
    }

    /// How many hosts must succeed for the deployment to succeed: the healthy minimum, and at
    /// least one (AllAtOnce succeeds when any host does).
    pub fn required_successes(self, hosts: usize) -> usize {
        self.minimum(hosts).max(1)
    }

    /// Why a user's value is refused, in CodeDeploy's words.
    pub fn check(self) -> Result<(), String> {
        match self.kind {
            HealthyHostsKind::FleetPercent if self.value > 99 => {
                Err("The minimum healthy hosts percentage must be between 0 and 99".into())
            }
            HealthyHostsKind::MostConcurrency => {
                Err("MOST_CONCURRENCY is reserved for CodeDeployDefault.OneAtATime".into())
            }
            _ => Ok(()),
        }
    }
}

/// The built-in configs of the EC2/on-premises compute platform.
pub const BUILT_IN_CONFIGS: &[(&str, HealthyHosts)] = &[
    (
        "CodeDeployDefault.OneAtATime",
        HealthyHosts {
            kind: HealthyHostsKind::MostConcurrency,
            value: 1,
        },
    ),
    (
        "CodeDeployDefault.HalfAtATime",
        HealthyHosts {
            kind: HealthyHostsKind::FleetPercent,
            value: 50,
        },
    ),
    (
        "CodeDeployDefault.AllAtOnce",
        HealthyHosts {
            kind: HealthyHostsKind::HostCount,
            value: 0,
        },
    ),
];

/// The built-in config named `name`.
pub fn built_in(name: &str) -> Option<HealthyHosts> {
    BUILT_IN_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_percent_rounds_up_as_codedeploy_documents() {
        // Nine hosts at 40%: four stay healthy, so five run at once.
        let forty = HealthyHosts {
            kind: HealthyHostsKind::FleetPercent,
            value: 40,
        };
        assert_eq!(forty.minimum(9), 4);
        let six = HealthyHosts {
            kind: HealthyHostsKind::HostCount,
            value: 6,
        };
        assert_eq!(six.minimum(9), 6);
    }

    #[test]
    fn all_at_once_still_needs_one_success() {
        let all = built_in("CodeDeployDefault.AllAtOnce").expect("built in");
        assert_eq!(all.minimum(3), 0);
        assert_eq!(all.required_successes(3), 1);
        let one = built_in("CodeDeployDefault.OneAtATime").expect("built in");
        assert_eq!(one.minimum(3), 2);
        assert_eq!(one.required_successes(1), 1);
    }

    #[test]
    fn users_cannot_make_most_concurrency_or_a_full_fleet() {
        let full = HealthyHosts {
            kind: HealthyHostsKind::FleetPercent,
            value: 100,
        };
        assert!(full.check().is_err());
        let most = HealthyHosts {
            kind: HealthyHostsKind::MostConcurrency,
            value: 1,
        };
        assert!(most.check().is_err());
    }
}
