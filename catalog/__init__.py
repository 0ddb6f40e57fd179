"""The resource catalog: definitions, matching, versions, approvals, audit and legacy import."""
