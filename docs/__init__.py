"""Documents the running stack serves (the runbook alerts link to); a data package."""
