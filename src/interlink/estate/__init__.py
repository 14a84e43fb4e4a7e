"""The estate as code: its kinds, the YAML loader, references, rules, findings and the graph."""
