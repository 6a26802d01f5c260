//! The lifecycle events of an in-place deployment, in the order CodeDeploy runs them on a host.

/// One lifecycle event of an in-place deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEvent {
    ApplicationStop,
    BeforeBlockTraffic,
    BlockTraffic,
    AfterBlockTraffic,
    DownloadBundle,
    BeforeInstall,
    Install,
    AfterInstall,
    ApplicationStart,
    ValidateService,
    BeforeAllowTraffic,
    AllowTraffic,
    AfterAllowTraffic,
}

impl LifecycleEvent {
    /// Every event of an in-place deployment, in CodeDeploy's order.
    pub const IN_PLACE: [LifecycleEvent; 13] = [
        LifecycleEvent::ApplicationStop,
        LifecycleEvent::BeforeBlockTraffic,
        LifecycleEvent::BlockTraffic,
        LifecycleEvent::AfterBlockTraffic,
        LifecycleEvent::DownloadBundle,
        LifecycleEvent::BeforeInstall,
        LifecycleEvent::Install,
        LifecycleEvent::AfterInstall,
        LifecycleEvent::ApplicationStart,
        LifecycleEvent::ValidateService,
        LifecycleEvent::BeforeAllowTraffic,
        LifecycleEvent::AllowTraffic,
        LifecycleEvent::AfterAllowTraffic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LifecycleEvent::ApplicationStop => "ApplicationStop",
            LifecycleEvent::BeforeBlockTraffic => "BeforeBlockTraffic",
            LifecycleEvent::BlockTraffic => "BlockTraffic",
            LifecycleEvent::AfterBlockTraffic => "AfterBlockTraffic",
            LifecycleEvent::DownloadBundle => "DownloadBundle",
            LifecycleEvent::BeforeInstall => "BeforeInstall",
            LifecycleEvent::Install => "Install",
            LifecycleEvent::AfterInstall => "AfterInstall",
            LifecycleEvent::ApplicationStart => "ApplicationStart",
            LifecycleEvent::ValidateService => "ValidateService",
            LifecycleEvent::BeforeAllowTraffic => "BeforeAllowTraffic",
            LifecycleEvent::AllowTraffic => "AllowTraffic",
            LifecycleEvent::AfterAllowTraffic => "AfterAllowTraffic",
        }
    }

    pub fn from_name(name: &str) -> Option<LifecycleEvent> {
        LifecycleEvent::IN_PLACE
            .into_iter()
            .find(|event| event.name() == name)
    }

    /// Whether a host runs this event. The traffic events belong to a load balancer; an
    /// on-premises deployment without one skips them, as CodeDeploy does.
    pub fn runs_on_host(self) -> bool {
        !matches!(
            self,
            LifecycleEvent::BeforeBlockTraffic
                | LifecycleEvent::BlockTraffic
                | LifecycleEvent::AfterBlockTraffic
                | LifecycleEvent::BeforeAllowTraffic
                | LifecycleEvent::AllowTraffic
                | LifecycleEvent::AfterAllowTraffic
        )
    }

    /// Whether the appspec may name this event under `hooks` (the agent's own steps, and the
    /// traffic events CodeDeploy runs itself, are not scripts).
    pub fn takes_hooks(self) -> bool {
        !matches!(
            self,
            LifecycleEvent::DownloadBundle
                | LifecycleEvent::Install
                | LifecycleEvent::BlockTraffic
                | LifecycleEvent::AllowTraffic
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_codedeploy_order() {
        for event in LifecycleEvent::IN_PLACE {
            assert_eq!(LifecycleEvent::from_name(event.name()), Some(event));
        }
        let on_host: Vec<_> = LifecycleEvent::IN_PLACE
            .into_iter()
            .filter(|e| e.runs_on_host())
            .map(|e| e.name())
            .collect();
        assert_eq!(
            on_host,
            [
                "ApplicationStop",
                "DownloadBundle",
                "BeforeInstall",
                "Install",
                "AfterInstall",
                "ApplicationStart",
                "ValidateService"
            ]
        );
    }
}
