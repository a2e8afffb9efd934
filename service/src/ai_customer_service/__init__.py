"""Reference build of ai-customer-service: the runbook's contract, for the lab and the tests."""
