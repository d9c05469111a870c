"""Pure domain types and rules: levels, policies, dictionaries, contributions, tasks. No I/O."""
