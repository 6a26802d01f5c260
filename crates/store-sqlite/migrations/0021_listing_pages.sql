-- ListDeployments and ListSubscriptions read one page from the store, newest (or oldest)
-- first by creation and then id, starting after the previous page's last row. Each filter
-- they allow has an index in that order, so a page is a seek and a short walk, not a sort of
-- every deployment or subscription there is.
DROP INDEX deployments_by_group;
CREATE INDEX deployments_by_group ON deployments (application, deployment_group, create_ms, id);
CREATE INDEX deployments_by_application ON deployments (application, create_ms, id);
CREATE INDEX deployments_by_creation ON deployments (create_ms, id);
DROP INDEX sns_subscriptions_topic;
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn, created_ms, arn);
CREATE INDEX sns_subscriptions_by_creation ON sns_subscriptions (created_ms, arn);
