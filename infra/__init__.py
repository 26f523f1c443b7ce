"""The AWS CDK app that deploys fraud-alerts: one stack, `FraudAlertsStack`."""
