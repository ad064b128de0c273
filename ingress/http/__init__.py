"""What every HTTP surface of crmbus shares: problem+json errors, JSON bodies, request
observation."""
