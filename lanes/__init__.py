"""lanes: a workflow language, compiler and parallel runtime for agents sharing one codebase.

Public API:
    lanes.load(path)   -> Loaded(workflow, diagnostics)       parse either form to the AST
    lanes.check(path)  -> Compilation(..., diagnostics)        every check, no plan
    lanes.compile(path)-> Compilation(..., plan, diagnostics)  the plan (None when errors)
"""
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """The API is imported on first use, so that `lanes run` and friends start fast."""
    if name in ("load", "check", "compile", "Loaded", "Compilation"):
        from lanes import api
        return getattr(api, name)
    raise AttributeError(f"module 'lanes' has no attribute {name!r}")


__all__ = ["Compilation", "Loaded", "__version__", "check", "compile", "load"]
