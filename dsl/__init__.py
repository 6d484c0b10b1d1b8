"""Front ends: YAML and the lanes grammar, both building one AST with source spans."""
