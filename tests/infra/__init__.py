"""Checks of the CDK app that need no AWS account."""
