"""lanes: a workflow language, compiler and parallel runtime for agents sharing one codebase.

Public API:
    lanes.load(path)   -> Loaded(workflow, diagnostics)       parse either form to the AST
    lanes.check(path)  -> Compilation(..., diagnostics)        every check, no plan
    lanes.compile(path)-> Compilation(..., plan, diagnostics)  the plan (None when errors)
"""
__version__ = "0.1.0"

from .api import Compilation, Loaded, check, compile, load  # noqa: E402

__all__ = ["load", "check", "compile", "Loaded", "Compilation", "__version__"]
